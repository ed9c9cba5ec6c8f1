package android.graphics

import java.io.OutputStream

class Bitmap {
    enum class Config { ARGB_8888 }
    enum class CompressFormat { PNG }

    val width: Int = 0
    val height: Int = 0
    fun getPixels(pixels: IntArray, offset: Int, stride: Int, x: Int, y: Int, width: Int, height: Int) {}
    fun recycle() {}
    fun compress(format: CompressFormat, quality: Int, stream: OutputStream): Boolean = true

    companion object {
        fun createBitmap(colors: IntArray, width: Int, height: Int, config: Config): Bitmap = Bitmap()
    }
}

class BitmapFactory {
    class Options {
        var inPreferredConfig: Bitmap.Config? = null
    }

    companion object {
        fun decodeFile(pathName: String, opts: Options?): Bitmap? = null
    }
}
