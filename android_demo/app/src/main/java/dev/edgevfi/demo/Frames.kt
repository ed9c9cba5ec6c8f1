package dev.edgevfi.demo

import android.graphics.Bitmap
import android.graphics.BitmapFactory
import dev.edgevfi.demo.core.FramePair
import dev.edgevfi.demo.core.RegionOps
import java.io.File

/** PNG frames in and out, as float32 CHW in [0, 1] (what the graphs take). */
object Frames {
    /** Decode `path` to 3 x H x W float32, resized (bilinear, as the host) to `height` x `width` if it differs. */
    fun load(path: String, height: Int, width: Int): FloatArray {
        val opts = BitmapFactory.Options().apply { inPreferredConfig = Bitmap.Config.ARGB_8888 }
        val bmp = BitmapFactory.decodeFile(path, opts)
            ?: throw IllegalArgumentException("$path: not a readable image (push PNGs to /data/local/tmp)")
        val h = bmp.height
        val w = bmp.width
        val px = IntArray(h * w)
        bmp.getPixels(px, 0, w, 0, 0, w, h)
        bmp.recycle()
        val out = FloatArray(3 * h * w)
        val plane = h * w
        for (i in 0 until plane) {
            val p = px[i]
            out[i] = ((p shr 16) and 0xff) / 255f
            out[plane + i] = ((p shr 8) and 0xff) / 255f
            out[2 * plane + i] = (p and 0xff) / 255f
        }
        return RegionOps.resizeBilinear(out, 3, h, w, height, width)
    }

    /** Both frames of a pair at `height` x `width`. */
    fun loadPair(path0: String, path1: String, height: Int, width: Int): FramePair =
        FramePair(load(path0, height, width), load(path1, height, width), height, width)

    /** Write a 3 x H x W float32 frame as PNG (values clamped to [0, 1]). */
    fun save(frame: FloatArray, height: Int, width: Int, file: File) {
        val plane = height * width
        val px = IntArray(plane)
        fun byte(v: Float): Int = Math.round(Math.min(Math.max(v, 0f), 1f) * 255f)
        for (i in 0 until plane) {
            px[i] = (0xff shl 24) or (byte(frame[i]) shl 16) or (byte(frame[plane + i]) shl 8) or byte(frame[2 * plane + i])
        }
        val bmp = Bitmap.createBitmap(px, width, height, Bitmap.Config.ARGB_8888)
        file.outputStream().use { bmp.compress(Bitmap.CompressFormat.PNG, 100, it) }
        bmp.recycle()
    }
}
