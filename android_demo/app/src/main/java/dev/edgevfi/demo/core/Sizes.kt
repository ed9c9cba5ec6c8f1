package dev.edgevfi.demo.core

/** Output frame sizes, parsed exactly like the host's `edgevfi bench --size` (`export/latency.py`). */
object Sizes {
    /** Named sizes, (W, H), in the host's order (which its error message lists). */
    val NAMED: LinkedHashMap<String, IntArray> = linkedMapOf(
        "360p" to intArrayOf(640, 360),
        "480p" to intArrayOf(854, 480),
        "540p" to intArrayOf(960, 540),
        "720p" to intArrayOf(1280, 720),
        "1080p" to intArrayOf(1920, 1080),
        "1440p" to intArrayOf(2560, 1440),
        "4k" to intArrayOf(3840, 2160),
        "2160p" to intArrayOf(3840, 2160)
    )

    private val WXH = Regex("(\\d+)\\s*[x\u00d7]\\s*(\\d+)")

    /** `720p` / `1080p` / `4k` / `WxH` to `intArrayOf(W, H)`; [IllegalArgumentException] with the host's message otherwise. */
    fun parse(text: String): IntArray {
        val key = asciiLower(text.trim())
        val named = NAMED[key]
        if (named != null) return named.copyOf()
        val m = WXH.matchEntire(key)
            ?: throw IllegalArgumentException(
                "unknown size ${pyRepr(text)} (use ${NAMED.keys.joinToString(", ")} or WxH like 1280x720)"
            )
        val w = boundedInt(m.groupValues[1])
        val h = boundedInt(m.groupValues[2])
        if (w < 16 || w > 8192 || h < 16 || h > 8192) {
            throw IllegalArgumentException("size must be between 16x16 and 8192x8192, got ${pyRepr(text)}")
        }
        return intArrayOf(w, h)
    }

    // Python ints do not overflow: anything too long to fit is simply "too big" for the range check.
    private fun boundedInt(digits: String): Int {
        val s = digits.trimStart('0')
        if (s.length == 0) return 0
        if (s.length > 9) return Int.MAX_VALUE
        return s.toInt()
    }

    // Locale-free ASCII lower-casing: the same on every phone, and no deprecated String API.
    private fun asciiLower(s: String): String {
        val sb = StringBuilder(s.length)
        for (ch in s) sb.append(if (ch in 'A'..'Z') ch + ('a' - 'A') else ch)
        return sb.toString()
    }

    /** Python's `repr()` of a simple string (what the host's messages show). */
    fun pyRepr(s: String): String {
        val q = if (s.indexOf('\'') >= 0 && s.indexOf('"') < 0) '"' else '\''
        val sb = StringBuilder().append(q)
        for (ch in s) {
            when {
                ch == q || ch == '\\' -> sb.append('\\').append(ch)
                ch == '\n' -> sb.append("\\n")
                ch == '\r' -> sb.append("\\r")
                ch == '\t' -> sb.append("\\t")
                ch < ' ' || ch == '\u007f' -> sb.append(String.format("\\x%02x", ch - '\u0000'))
                else -> sb.append(ch)
            }
        }
        return sb.append(q).toString()
    }
}
