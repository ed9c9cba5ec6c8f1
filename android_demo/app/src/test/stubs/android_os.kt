package android.os

class Bundle {
    fun keySet(): Set<String> = emptySet()
    @Deprecated("typed getters") fun get(key: String): Any? = null
}

class Build {
    class VERSION {
        companion object {
            @JvmField val SDK_INT: Int = 0
            @JvmField val RELEASE: String = ""
        }
    }

    companion object {
        @JvmField val MODEL: String = ""
        @JvmField val MANUFACTURER: String = ""
        @JvmField val HARDWARE: String = ""
        @JvmField val BOARD: String = ""
        @JvmField val SOC_MODEL: String = ""
        @JvmField val SOC_MANUFACTURER: String = ""
        const val UNKNOWN: String = "unknown"
        @JvmField val SUPPORTED_ABIS: Array<String> = arrayOf()
    }
}
