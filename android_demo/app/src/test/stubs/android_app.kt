package android.app

import android.content.Context
import android.content.Intent
import android.os.Bundle
import android.view.View
import android.view.Window
import java.io.File

open class Activity : Context() {
    val intent: Intent = Intent()
    val window: Window = Window()
    val filesDir: File = File(".")
    open fun onCreate(savedInstanceState: Bundle?) {}
    fun setContentView(view: View) {}
    fun runOnUiThread(action: () -> Unit) = action()
    fun getExternalFilesDir(type: String?): File? = null
}
