package dev.edgevfi.demo.core

/**
 * One static graph behind a runtime (ExecuTorch, LiteRT, or a host-side fake in the checks):
 * float32 inputs in the manifest's order and shapes in, float32 outputs in order out.
 */
interface GraphRunner {
    /** Run once. Implementations may reuse their output arrays between calls. */
    fun run(inputs: Array<FloatArray>): Array<FloatArray>

    /** Free the runtime's resources. */
    fun close()
}

/** Both frames of a pair and their motion on `canvas` (the Python `PairMotion`). */
class PairMotion(
    val img0: FloatArray,
    val img1: FloatArray,
    val frameH: Int,
    val frameW: Int,
    val m0: FloatArray,
    val m1: FloatArray,
    val canvas: MotionCanvas
)

/** Static shapes the runner needs, from the manifest. */
class RunnerShapes(
    val canvasH: Int,
    val canvasW: Int,
    val tile: Int,
    val halo: Int,
    val overlap: Int,
    val align: Int,
    val displacementChannels: Int,
    val motionC: Int,
    val motionH: Int,
    val motionW: Int,
    /** Fine canvases with their own motion graph (the motion-adaptive second pass; none: one canvas). */
    val fine: List<MotionCanvas> = emptyList(),
    val motionReach: Double = 0.0,
    val canvasMultiple: Int = 32,
    /** How far a fine canvas may exceed the frame (1: never above it). */
    val canvasUpscale: Double = 1.0
) {
    /** The bundle's first motion canvas. */
    val canvas: MotionCanvas
        get() = MotionCanvas(canvasH, canvasW, motionH, motionW)

    companion object {
        /** The shapes of `backend`'s graphs in a parsed manifest. */
        fun of(m: BundleManifest, backend: String): RunnerShapes {
            val m0 = m.graph(backend, "motion").outputs[0].shape
            val fine = m.fineCanvases.map { c ->
                val f = m.graph(backend, CanvasChoice.graphName(c[0], c[1])).outputs[0].shape
                MotionCanvas(c[0], c[1], f[2], f[3])
            }
            return RunnerShapes(
                m.canvasH, m.canvasW, m.tile, m.halo, m.overlap, m.align, m.displacementChannels, m0[1], m0[2], m0[3],
                fine, m.motionReach, m.canvasMultiple, m.canvasUpscale
            )
        }
    }
}

/**
 * The tiled Runner of `edgevfi/runtime/runner.py` for static-shape graphs, batch 1.
 *
 * Per pair: both frames resized to the motion canvas, the motion graph once (and once more on a
 * fine canvas, with `fineMotion`'s graph for it, when [CanvasChoice] picks one); a portrait frame on a
 * landscape canvas (or the reverse) runs its motion transposed ([crossesCanvas]). Per output time t:
 * for every window of the [TilePlan], source crops displaced by the rounded window-mean motion,
 * the motion sampled onto those crops, the synth graph, and a raised-cosine blend normalised by
 * the weight sum. Frames are float32 CHW (3 x H x W) in [0, 1].
 */
class TiledRunner(
    private val motion: GraphRunner,
    private val synth: GraphRunner,
    val shapes: RunnerShapes,
    /** Fine canvas graph name (`motion_<H>x<W>`) → its motion graph; fine canvases without one are not used. */
    private val fineMotion: Map<String, GraphRunner> = emptyMap()
) {
    private val fine = shapes.fine.filter { it.graphName in fineMotion }
    private val t2 = shapes.tile * shapes.tile
    // Reused across windows so a timed frame allocates only its output.
    private val src0 = FloatArray(3 * t2)
    private val src1 = FloatArray(3 * t2)
    private val mot0 = FloatArray(shapes.motionC * t2)
    private val mot1 = FloatArray(shapes.motionC * t2)
    private val shift0 = FloatArray(2)
    private val shift1 = FloatArray(2)
    private val tIn = FloatArray(1)
    private val planCache = HashMap<Long, TilePlan>()
    private val weightCache = HashMap<String, FloatArray>()

    /** The plan for a frame size (the bundle's tile, halo, overlap, align). */
    fun plan(frameH: Int, frameW: Int): TilePlan {
        val key = frameH.toLong() * 1000003L + frameW
        return planCache.getOrPut(key) {
            TilePlan(frameH, frameW, shapes.tile, shapes.halo, shapes.overlap, shapes.align)
        }
    }

    /** Resize both frames to the canvas and run the motion graph (shared by every t); see the class doc. */
    fun prepare(img0: FloatArray, img1: FloatArray, frameH: Int, frameW: Int): PairMotion {
        val n = 3 * frameH * frameW
        if (img0.size != n || img1.size != n) {
            throw IllegalArgumentException("expected two 3x${frameH}x$frameW frames, got ${img0.size} and ${img1.size} values")
        }
        if (crossesCanvas(frameH, frameW, shapes.canvasH, shapes.canvasW)) {
            val t = motionOf(transposeChw(img0, 3, frameH, frameW), transposeChw(img1, 3, frameH, frameW), frameW, frameH)
            val c = t.canvas
            val dc = shapes.displacementChannels
            return PairMotion(
                img0, img1, frameH, frameW,
                transposeMotion(t.m0, shapes.motionC, c.motionH, c.motionW, dc),
                transposeMotion(t.m1, shapes.motionC, c.motionH, c.motionW, dc),
                MotionCanvas(c.w, c.h, c.motionW, c.motionH)
            )
        }
        return motionOf(img0, img1, frameH, frameW)
    }

    private fun motionOf(img0: FloatArray, img1: FloatArray, frameH: Int, frameW: Int): PairMotion {
        val s = shapes
        val first = motionOn(s.canvas, motion, img0, img1, frameH, frameW)
        val k = CanvasChoice.pick(
            frameH, frameW, s.canvasH, s.canvasW, fine, first.m0, first.m1, s.motionC, s.motionH, s.motionW,
            s.displacementChannels, s.motionReach, s.canvasMultiple, upscale = s.canvasUpscale
        )
        if (k < 0) return first
        return motionOn(fine[k], fineMotion.getValue(fine[k].graphName), img0, img1, frameH, frameW)
    }

    private fun motionOn(c: MotionCanvas, graph: GraphRunner, img0: FloatArray, img1: FloatArray, frameH: Int, frameW: Int): PairMotion {
        val c0 = RegionOps.resizeBilinear(img0, 3, frameH, frameW, c.h, c.w)
        val c1 = RegionOps.resizeBilinear(img1, 3, frameH, frameW, c.h, c.w)
        val out = graph.run(arrayOf(c0, c1))
        // Copies: a runtime may reuse its output buffers on the next call.
        return PairMotion(img0, img1, frameH, frameW, out[0].copyOf(), out[1].copyOf(), c)
    }

    /**
     * The frame at time `t` in (0, 1), 3 x H x W. If `shifts` is given, each window's integer
     * shifts `[sx0, sy0, sx1, sy1]` are appended to it (the checks compare them with Python's).
     */
    fun synthesize(pair: PairMotion, t: Double, shifts: MutableList<IntArray>? = null): FloatArray {
        val H = pair.frameH
        val W = pair.frameW
        val plan = plan(H, W)
        val out = FloatArray(3 * H * W)
        val weight = FloatArray(H * W)
        tIn[0] = t.toFloat()
        for (win in plan.windows()) {
            val s0 = windowInputs(pair, win.region, pair.img0, pair.m0, t, src0, mot0, shift0)
            val s1 = windowInputs(pair, win.region, pair.img1, pair.m1, 1.0 - t, src1, mot1, shift1)
            if (shifts != null) shifts.add(intArrayOf(s0[0], s0[1], s1[0], s1[1]))
            val tileOut = synth.run(arrayOf(src0, src1, mot0, mot1, shift0, shift1, tIn))[0]
            accumulate(out, weight, H, W, tileOut, blendWeight(plan, win.iy, win.ix), win.region)
        }
        // out / weight.clamp_min(1e-8), in float32.
        val hw = H * W
        for (ch in 0 until 3) {
            val o = ch * hw
            for (p in 0 until hw) out[o + p] = out[o + p] / Math.max(weight[p], 1e-8f)
        }
        return out
    }

    private fun blendWeight(plan: TilePlan, iy: Int, ix: Int): FloatArray {
        // Only first/middle/last windows differ along an axis: key on that, not on (iy, ix).
        fun cls(i: Int, n: Int): Int = (if (i == 0) 1 else 0) + (if (i == n - 1) 2 else 0)
        val key = "${plan.tile}/${plan.halo}/${plan.overlap}/${cls(iy, plan.ys.size)}/${cls(ix, plan.xs.size)}"
        return weightCache.getOrPut(key) { plan.blendWeight(iy, ix) }
    }

    /** Fill one side's crop, motion and shift for `region` (`Runner._window_inputs`); returns `[sx, sy]`. */
    private fun windowInputs(
        pair: PairMotion,
        region: Region,
        img: FloatArray,
        m: FloatArray,
        frac: Double,
        srcOut: FloatArray,
        motOut: FloatArray,
        shiftOut: FloatArray
    ): IntArray {
        val s = shapes
        val c = pair.canvas
        val disp = RegionOps.regionMeanDisplacement(m, c.motionH, c.motionW, c.h, c.w, pair.frameH, pair.frameW, region)
        val shift = RegionOps.roundShift(frac, disp)
        val src = Region(region.y0 - shift[1], region.x0 - shift[0], region.h, region.w)
        RegionOps.cropReplicate(img, 3, pair.frameH, pair.frameW, src, srcOut)
        RegionOps.sampleMotion(
            m, s.motionC, c.motionH, c.motionW, c.h, c.w, pair.frameH, pair.frameW, src, s.displacementChannels, motOut
        )
        shiftOut[0] = shift[0].toFloat()
        shiftOut[1] = shift[1].toFloat()
        return shift
    }

    companion object {
        /**
         * Whether a frame is portrait on a landscape canvas or landscape on a portrait one
         * (`edgevfi.runtime.runner.crosses_canvas`): its motion then runs on the transposed frames.
         */
        fun crossesCanvas(frameH: Int, frameW: Int, canvasH: Int, canvasW: Int): Boolean =
            frameH != frameW && canvasH != canvasW && (frameH > frameW) != (canvasH > canvasW)

        /** A C x H x W tensor as C x W x H. */
        fun transposeChw(x: FloatArray, c: Int, h: Int, w: Int): FloatArray {
            val out = FloatArray(x.size)
            for (ch in 0 until c) {
                val base = ch * h * w
                for (y in 0 until h) for (xx in 0 until w) out[base + xx * h + y] = x[base + y * w + xx]
            }
            return out
        }

        /**
         * Motion of the transposed frames (C x h x w) as motion of the frames (C x w x h): the map
         * transposed, every x/y displacement pair swapped (`edgevfi.ops.tiles.transpose_motion`).
         */
        fun transposeMotion(m: FloatArray, c: Int, h: Int, w: Int, displacementChannels: Int): FloatArray {
            val t = transposeChw(m, c, h, w)
            val plane = h * w
            for (p in 0 until displacementChannels / 2) {
                val x = t.copyOfRange(2 * p * plane, (2 * p + 1) * plane)
                System.arraycopy(t, (2 * p + 1) * plane, t, 2 * p * plane, plane)
                System.arraycopy(x, 0, t, (2 * p + 1) * plane, plane)
            }
            return t
        }

        /** Add `tile * w` into `out` (3 x H x W) and `w` into `weight` where the window meets the frame (`_accumulate`). */
        fun accumulate(out: FloatArray, weight: FloatArray, H: Int, W: Int, tile: FloatArray, w: FloatArray, region: Region) {
            val ty0 = Math.max(0, -region.y0)
            val tx0 = Math.max(0, -region.x0)
            val fy0 = Math.max(0, region.y0)
            val fx0 = Math.max(0, region.x0)
            val fy1 = Math.min(H, region.y0 + region.h)
            val fx1 = Math.min(W, region.x0 + region.w)
            if (fy1 <= fy0 || fx1 <= fx0) return
            val th = region.h
            val tw = region.w
            for (ch in 0 until 3) {
                for (fy in fy0 until fy1) {
                    val ty = ty0 + (fy - fy0)
                    val tb = ch * th * tw + ty * tw
                    val ob = ch * H * W + fy * W
                    val wb = ty * tw
                    for (fx in fx0 until fx1) {
                        val tx = tx0 + (fx - fx0)
                        out[ob + fx] += tile[tb + tx] * w[wb + tx]
                    }
                }
            }
            for (fy in fy0 until fy1) {
                val ty = ty0 + (fy - fy0)
                for (fx in fx0 until fx1) weight[fy * W + fx] += w[ty * tw + tx0 + (fx - fx0)]
            }
        }
    }
}
