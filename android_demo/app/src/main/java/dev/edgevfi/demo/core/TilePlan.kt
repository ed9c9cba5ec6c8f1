package dev.edgevfi.demo.core

// Plain Kotlin (no Android imports): compiled and checked on the host against goldens written by
// the Python planner (edgevfi/runtime/tiles.py), so the phone tiles frames exactly like the host.
// Kept source-compatible with Kotlin 1.3 (Debian's kotlinc) and 2.x (the Android build).

import kotlin.math.PI
import kotlin.math.cos

/** A window `(y0, x0, h, w)` in frame pixels; it may extend beyond the frame. */
data class Region(val y0: Int, val x0: Int, val h: Int, val w: Int)

/** Window `(iy, ix)` of the grid and its region. */
data class Window(val iy: Int, val ix: Int, val region: Region)

/**
 * Fixed-size windows covering a `frameH` x `frameW` frame, as `edgevfi.runtime.tiles.TilePlan`.
 *
 * A window is `tile` pixels square; its outer `halo` pixels are context that is thrown away;
 * neighbouring cores overlap by `overlap` pixels and are cross-faded with a raised cosine.
 * Windows start at `-halo + k * stride`. Invalid configurations throw [IllegalArgumentException]
 * with the Python planner's messages (ValueError there).
 */
class TilePlan(
    val frameH: Int,
    val frameW: Int,
    val tile: Int = 448,
    val halo: Int = 32,
    val overlap: Int = 32,
    val align: Int = 32
) {
    /** Trusted centre of a window: `tile - 2 * halo`. */
    val core: Int = tile - 2 * halo

    /** Distance between window origins: `core - overlap`. */
    val stride: Int = core - overlap

    /** Window origins along y. */
    val ys: IntArray

    /** Window origins along x. */
    val xs: IntArray

    init {
        // Same checks, same order, same messages as the Python planner.
        if (frameH < 1 || frameW < 1) {
            throw IllegalArgumentException("frame size must be positive, got ${frameW}x$frameH")
        }
        // Python raises ZeroDivisionError here; say what is wrong instead.
        if (align < 1) throw IllegalArgumentException("align must be a positive number of pixels, got $align")
        if (tile % align != 0) {
            throw IllegalArgumentException("tile $tile is not a multiple of the model alignment $align")
        }
        if (stride <= 0 || stride % align != 0) {
            throw IllegalArgumentException(
                "tile $tile \u2212 2\u00b7halo $halo \u2212 overlap $overlap = stride $stride " +
                    "must be a positive multiple of $align"
            )
        }
        // Stricter than Python, which would accept these and slice with negative indices.
        if (halo < 0 || overlap < 0) {
            throw IllegalArgumentException("halo and overlap must be >= 0, got halo $halo, overlap $overlap")
        }
        ys = starts(frameH)
        xs = starts(frameW)
    }

    /** Window origins along an axis of `size` pixels (`TilePlan._starts`). */
    fun starts(size: Int): IntArray {
        // Integer ceil division equals Python's math.ceil of the true quotient for positive ints.
        val n = if (size <= core) 1 else 1 + (size - core + stride - 1) / stride
        return IntArray(n) { k -> -halo + k * stride }
    }

    /** Number of windows. */
    val windowCount: Int
        get() = ys.size * xs.size

    /** All windows, rows first (the order of `indexed_windows`, which is also the blend order). */
    fun windows(): List<Window> {
        val out = ArrayList<Window>(windowCount)
        for (iy in ys.indices) {
            for (ix in xs.indices) out.add(Window(iy, ix, Region(ys[iy], xs[ix], tile, tile)))
        }
        return out
    }

    /** 1-D blend weight (length `tile`) of window `index` of `nTiles` along one axis (`TilePlan._ramp`). */
    fun ramp(nTiles: Int, index: Int): FloatArray {
        val w = FloatArray(tile)
        for (i in halo until tile - halo) w[i] = 1f
        val o = overlap
        if (o > 0) {
            // u in float64, cosine in float64, then cast to float32: exactly what Python does.
            val up = FloatArray(o) { k -> (0.5 - 0.5 * cos(PI * ((k + 0.5) / o))).toFloat() }
            // Same assignment order as Python (up, then down), which matters only if they overlap.
            if (index > 0) {
                for (k in 0 until o) w[halo + k] = up[k]
            }
            if (index < nTiles - 1) {
                for (k in 0 until o) w[tile - halo - o + k] = up[o - 1 - k]
            }
        }
        return w
    }

    /** Row-major `(tile, tile)` weight of window `(iy, ix)` in the blend; zero on the halo. */
    fun blendWeight(iy: Int, ix: Int): FloatArray {
        val ry = ramp(ys.size, iy)
        val rx = ramp(xs.size, ix)
        val out = FloatArray(tile * tile)
        for (y in 0 until tile) {
            val a = ry[y]
            val base = y * tile
            for (x in 0 until tile) out[base + x] = a * rx[x]
        }
        return out
    }
}
