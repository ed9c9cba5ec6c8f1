package android.content

import android.os.Bundle

open class Context

class Intent {
    val extras: Bundle? = null
    fun getStringExtra(name: String): String? = null
    fun getIntExtra(name: String, defaultValue: Int): Int = defaultValue
}
