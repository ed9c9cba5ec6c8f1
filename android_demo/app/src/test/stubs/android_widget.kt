package android.widget

import android.content.Context
import android.view.View

class TextView(context: Context) : View() {
    var text: CharSequence = ""
    fun setPadding(left: Int, top: Int, right: Int, bottom: Int) {}
}
