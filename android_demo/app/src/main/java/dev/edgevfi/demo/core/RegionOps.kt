package dev.edgevfi.demo.core

// The pure arithmetic of edgevfi/ops/tiles.py on float32 CHW arrays (batch 1), ported operation
// by operation in the same float32 order, so the phone feeds its graphs the host's inputs.

import kotlin.math.floor

/** Per-output-pixel source indices and weights of a linear interpolation along one axis. */
class AxisLerp(val lo: IntArray, val hi: IntArray, val frac: FloatArray)

/** Region helpers shared by the tiled runner (see `edgevfi/ops/tiles.py`). */
object RegionOps {
    /** `arange(start, start + length).clamp(0, size - 1)`: replicate-padding indices. */
    fun clampedIndex(start: Int, length: Int, size: Int): IntArray =
        IntArray(length) { k -> Math.min(Math.max(start + k, 0), size - 1) }

    /**
     * Crop `region` from `img` (`c` x `h` x `w`); pixels outside the frame repeat the nearest edge.
     * Writes into `out` (length `c * region.h * region.w`) when given, so timed loops do not allocate.
     */
    fun cropReplicate(img: FloatArray, c: Int, h: Int, w: Int, region: Region, out: FloatArray? = null): FloatArray {
        val rows = clampedIndex(region.y0, region.h, h)
        val cols = clampedIndex(region.x0, region.w, w)
        val dst = out ?: FloatArray(c * region.h * region.w)
        var o = 0
        for (ch in 0 until c) {
            val plane = ch * h * w
            for (r in rows) {
                val base = plane + r * w
                for (col in cols) {
                    dst[o] = img[base + col]
                    o++
                }
            }
        }
        return dst
    }

    /**
     * Sampling positions of frame pixels `start until start + length` (frame axis of `frameSize`)
     * on a motion axis of `motionSize`: align_corners=False mapping, clamped at the edges
     * (`sample_motion` + `_lerp_axis`). Coordinates are computed in float64 and cast to float32.
     */
    fun axisLerp(start: Int, length: Int, motionSize: Int, frameSize: Int): AxisLerp {
        val scale = motionSize.toDouble() / frameSize
        val maxF = (motionSize - 1).toFloat()
        val lo = IntArray(length)
        val hi = IntArray(length)
        val frac = FloatArray(length)
        for (k in 0 until length) {
            var cf = (((start + k).toDouble() + 0.5) * scale - 0.5).toFloat()
            cf = Math.min(Math.max(cf, 0f), maxF)
            val l = Math.min(Math.max(floor(cf.toDouble()).toInt(), 0), motionSize - 1)
            lo[k] = l
            hi[k] = Math.min(l + 1, motionSize - 1)
            frac[k] = cf - l.toFloat()
        }
        return AxisLerp(lo, hi, frac)
    }

    /**
     * Bilinearly upsample `motion` (`c` x `hm` x `wm`, estimated on the `canvasH` x `canvasW`
     * canvas) onto the frame pixels of `region` of a `frameH` x `frameW` frame. The first
     * `displacementChannels` channels are x/y pairs in canvas pixels and are rescaled to frame
     * pixels; the rest are only interpolated. Rows first, then columns, as in Python.
     */
    fun sampleMotion(
        motion: FloatArray,
        c: Int,
        hm: Int,
        wm: Int,
        canvasH: Int,
        canvasW: Int,
        frameH: Int,
        frameW: Int,
        region: Region,
        displacementChannels: Int,
        out: FloatArray? = null
    ): FloatArray {
        val ay = axisLerp(region.y0, region.h, hm, frameH)
        val ax = axisLerp(region.x0, region.w, wm, frameW)
        val h = region.h
        val w = region.w
        val rows = FloatArray(h * wm)
        val dst = out ?: FloatArray(c * h * w)
        val sx = (frameW.toDouble() / canvasW).toFloat()
        val sy = (frameH.toDouble() / canvasH).toFloat()
        for (ch in 0 until c) {
            val plane = ch * hm * wm
            for (i in 0 until h) {
                val f = ay.frac[i]
                val g = 1f - f
                val a = plane + ay.lo[i] * wm
                val b = plane + ay.hi[i] * wm
                val r = i * wm
                for (x in 0 until wm) rows[r + x] = motion[a + x] * g + motion[b + x] * f
            }
            // Channel scale: x for even displacement channels, y for odd, 1 (a no-op) otherwise.
            val scaled = ch < displacementChannels
            val s = if (ch % 2 == 0) sx else sy
            val o = ch * h * w
            for (i in 0 until h) {
                val r = i * wm
                val base = o + i * w
                for (j in 0 until w) {
                    val f = ax.frac[j]
                    val v = rows[r + ax.lo[j]] * (1f - f) + rows[r + ax.hi[j]] * f
                    dst[base + j] = if (scaled) v * s else v
                }
            }
        }
        return dst
    }

    /**
     * The motion cells `[top, bottom) x [left, right)` averaged for `region`
     * (`region_mean_displacement`): returns `intArrayOf(top, left, bottom, right)`.
     */
    fun meanBox(region: Region, frameH: Int, frameW: Int, hm: Int, wm: Int): IntArray {
        // int(a / b) in Python: true division then truncation toward zero.
        val top = Math.min(Math.max(((region.y0.toLong() * hm).toDouble() / frameH).toInt(), 0), hm - 1)
        val left = Math.min(Math.max(((region.x0.toLong() * wm).toDouble() / frameW).toInt(), 0), wm - 1)
        // -(-(a) * m // H): ceil of the quotient with floor division.
        val bottom = Math.max(Math.min(ceilDiv((region.y0 + region.h).toLong() * hm, frameH.toLong()), hm), top + 1)
        val right = Math.max(Math.min(ceilDiv((region.x0 + region.w).toLong() * wm, frameW.toLong()), wm), left + 1)
        return intArrayOf(top, left, bottom, right)
    }

    private fun ceilDiv(a: Long, b: Long): Int = (-Math.floorDiv(-a, b)).toInt()

    /** Mean of the first displacement pair over `region`'s box, in frame pixels: `[dx, dy]`. */
    fun regionMeanDisplacement(
        motion: FloatArray,
        hm: Int,
        wm: Int,
        canvasH: Int,
        canvasW: Int,
        frameH: Int,
        frameW: Int,
        region: Region
    ): FloatArray {
        val box = meanBox(region, frameH, frameW, hm, wm)
        val out = FloatArray(2)
        val n = (box[2] - box[0]) * (box[3] - box[1])
        for (ch in 0 until 2) {
            var sum = 0.0
            for (y in box[0] until box[2]) {
                val base = ch * hm * wm + y * wm
                for (x in box[1] until box[3]) sum += motion[base + x]
            }
            out[ch] = (sum / n).toFloat()
        }
        out[0] = out[0] * (frameW.toDouble() / canvasW).toFloat()
        out[1] = out[1] * (frameH.toDouble() / canvasH).toFloat()
        return out
    }

    /**
     * `torch.round(frac * displacement)` as integers `[sx, sy]`: the product in float32 (a Python
     * float times a float32 tensor), rounded half to even like torch.round.
     */
    fun roundShift(frac: Double, displacement: FloatArray): IntArray {
        val f = frac.toFloat()
        return IntArray(2) { k -> Math.rint((f * displacement[k]).toDouble()).toInt() }
    }

    /** Bilinear resize (align_corners=False, no antialias) of a `c` x `inH` x `inW` image: `resize_to`. */
    fun resizeBilinear(img: FloatArray, c: Int, inH: Int, inW: Int, outH: Int, outW: Int): FloatArray {
        if (inH == outH && inW == outW) return img
        val ay = resizeAxis(inH, outH)
        val ax = resizeAxis(inW, outW)
        val out = FloatArray(c * outH * outW)
        for (ch in 0 until c) {
            val plane = ch * inH * inW
            val o = ch * outH * outW
            for (i in 0 until outH) {
                val h1 = ay.frac[i]
                val h0 = 1f - h1
                val r0 = plane + ay.lo[i] * inW
                val r1 = plane + ay.hi[i] * inW
                for (j in 0 until outW) {
                    val w1 = ax.frac[j]
                    val w0 = 1f - w1
                    // PyTorch's CPU kernel order: each row interpolated along x, then the two rows.
                    val t0 = img[r0 + ax.lo[j]] * w0 + img[r0 + ax.hi[j]] * w1
                    val t1 = img[r1 + ax.lo[j]] * w0 + img[r1 + ax.hi[j]] * w1
                    out[o + i * outW + j] = t0 * h0 + t1 * h1
                }
            }
        }
        return out
    }

    /** Source indices/weights of F.interpolate(bilinear, align_corners=False) along one axis, in float32. */
    fun resizeAxis(inSize: Int, outSize: Int): AxisLerp {
        val scale = inSize.toFloat() / outSize.toFloat()
        val lo = IntArray(outSize)
        val hi = IntArray(outSize)
        val frac = FloatArray(outSize)
        for (i in 0 until outSize) {
            // PyTorch's kernel compiles this to one fused multiply-add (x86 AVX2/AVX-512, arm64): the
            // float32 product is exact in float64, so this rounds once like fma(scale, i + 0.5, -0.5).
            // A separately rounded product would move the weights by up to ~1e-6 at 50 px.
            var real = (scale.toDouble() * (i.toFloat() + 0.5f).toDouble() - 0.5).toFloat()
            if (real < 0f) real = 0f
            val l = Math.min(real.toInt(), inSize - 1)
            lo[i] = l
            hi[i] = l + if (l < inSize - 1) 1 else 0
            frac[i] = Math.min(Math.max(real - l.toFloat(), 0f), 1f)
        }
        return AxisLerp(lo, hi, frac)
    }
}
