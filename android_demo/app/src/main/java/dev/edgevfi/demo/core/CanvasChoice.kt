package dev.edgevfi.demo.core

/** A static motion canvas and the grid of the motion tensors its graph returns. */
class MotionCanvas(val h: Int, val w: Int, val motionH: Int, val motionW: Int) {
    /** The bundle's graph for this canvas when it is a fine canvas (`export.graphs.motion_graph_name`). */
    val graphName: String
        get() = CanvasChoice.graphName(h, w)
}

/**
 * The motion-adaptive canvas for static graphs (`edgevfi.models.base.static_canvas`): after the
 * motion pass on the bundle's canvas, the largest fine canvas no larger than `upscale` × the frame
 * (beyond rounding to `multiple`) on which the 99th percentile of the pair's displacement
 * magnitudes, scaled per axis onto that canvas, stays within the motion stage's reach.
 */
object CanvasChoice {
    fun graphName(h: Int, w: Int): String = "motion_${h}x$w"

    /**
     * Index into `candidates` of the canvas to rerun motion on, or -1 for none. Motion tensors are
     * C x motionH x motionW float32 with the first `displacementChannels` channels x/y pairs in
     * pixels of the `canvasH` x `canvasW` canvas. Float32 arithmetic as in PyTorch.
     */
    fun pick(
        frameH: Int,
        frameW: Int,
        canvasH: Int,
        canvasW: Int,
        candidates: List<MotionCanvas>,
        m0: FloatArray,
        m1: FloatArray,
        motionC: Int,
        motionH: Int,
        motionW: Int,
        displacementChannels: Int,
        reach: Double,
        multiple: Int,
        q: Double = 0.99,
        upscale: Double = 1.0
    ): Int {
        require(upscale >= 1.0) { "canvas upscale must be >= 1.0, got $upscale" }
        if (reach <= 0.0) return -1
        val limitH = roundUp(Math.floor(frameH * upscale).toInt(), multiple)
        val limitW = roundUp(Math.floor(frameW * upscale).toInt(), multiple)
        val fits = candidates.indices.filter { k ->
            val c = candidates[k]
            c.h <= limitH && c.w <= limitW && c.h.toLong() * c.w > canvasH.toLong() * canvasW
        }
        if (fits.isEmpty()) return -1
        // Frame-pixel displacements of every hypothesis of both tensors (frame_displacements).
        val hw = motionH * motionW
        val pairs = displacementChannels / 2
        val n = 2 * pairs * hw
        val dx = FloatArray(n)
        val dy = FloatArray(n)
        val toX = frameW.toFloat() / canvasW
        val toY = frameH.toFloat() / canvasH
        var i = 0
        for (m in listOf(m0, m1)) {
            for (p in 0 until pairs) {
                for (s in 0 until hw) {
                    dx[i] = m[(2 * p) * hw + s] * toX
                    dy[i] = m[(2 * p + 1) * hw + s] * toY
                    i++
                }
            }
        }
        for (k in fits.sortedByDescending { candidates[it].h.toLong() * candidates[it].w }) {
            val c = candidates[k]
            val sx = c.w.toFloat() / frameW
            val sy = c.h.toFloat() / frameH
            val mag = FloatArray(n) { j ->
                val x = dx[j] * sx
                val y = dy[j] * sy
                Math.sqrt((x * x + y * y).toDouble()).toFloat()
            }
            if (quantile(mag, q) <= reach) return k
        }
        return -1
    }

    /** `torch.quantile(x, q)` (linear interpolation between the two nearest ranks); 0 when empty. */
    fun quantile(values: FloatArray, q: Double): Double {
        if (values.isEmpty()) return 0.0
        val s = values.copyOf()
        s.sort()
        val pos = q * (s.size - 1)
        val lo = Math.floor(pos).toInt()
        val hi = Math.min(lo + 1, s.size - 1)
        val w = pos - lo
        return s[lo] + w * (s[hi] - s[lo])
    }

    fun roundUp(x: Int, m: Int): Int = ((x + m - 1) / m) * m
}
