package android.view

open class View

class Window {
    fun addFlags(flags: Int) {}
}

class WindowManager {
    class LayoutParams {
        companion object {
            const val FLAG_KEEP_SCREEN_ON: Int = 128
        }
    }
}
