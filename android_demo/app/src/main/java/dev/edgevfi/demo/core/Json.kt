package dev.edgevfi.demo.core

// A small JSON reader and writer. Plain Kotlin has no JSON library, and using one parser on the
// phone (manifest.json) and on the host (goldens, the same manifest) keeps the two paths identical.

/** Malformed JSON, with the character offset where reading stopped. */
class JsonError(message: String) : IllegalArgumentException(message)

/**
 * Parses JSON text into `Map<String, Any?>` (insertion-ordered), `List<Any?>`, `String`, `Long`
 * (integer literals that fit), `Double` (every other number), `Boolean` or `null`.
 */
object JsonReader {
    /** Parse one JSON document; [JsonError] on anything malformed or trailing. */
    fun parse(text: String): Any? {
        val p = Parser(text)
        p.skipWs()
        val v = p.value()
        p.skipWs()
        if (p.i != text.length) throw JsonError("unexpected trailing data at offset ${p.i}")
        return v
    }

    private class Parser(val s: String) {
        var i = 0

        fun skipWs() {
            while (i < s.length && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++
        }

        fun fail(what: String): Nothing = throw JsonError("$what at offset $i")

        fun value(): Any? {
            if (i >= s.length) fail("unexpected end of JSON")
            val ch = s[i]
            return when {
                ch == '{' -> obj()
                ch == '[' -> arr()
                ch == '"' -> str()
                ch == 't' -> literal("true", true)
                ch == 'f' -> literal("false", false)
                ch == 'n' -> literal("null", null)
                ch == '-' || (ch in '0'..'9') -> num()
                else -> fail("unexpected character '$ch'")
            }
        }

        fun literal(word: String, v: Any?): Any? {
            if (!s.startsWith(word, i)) fail("invalid literal")
            i += word.length
            return v
        }

        fun obj(): Map<String, Any?> {
            val out = LinkedHashMap<String, Any?>()
            i++
            skipWs()
            if (i < s.length && s[i] == '}') {
                i++
                return out
            }
            while (true) {
                skipWs()
                if (i >= s.length || s[i] != '"') fail("expected a string key")
                val k = str()
                skipWs()
                if (i >= s.length || s[i] != ':') fail("expected ':'")
                i++
                skipWs()
                out[k] = value()
                skipWs()
                if (i >= s.length) fail("unterminated object")
                if (s[i] == ',') {
                    i++
                    continue
                }
                if (s[i] == '}') {
                    i++
                    return out
                }
                fail("expected ',' or '}'")
            }
        }

        fun arr(): List<Any?> {
            val out = ArrayList<Any?>()
            i++
            skipWs()
            if (i < s.length && s[i] == ']') {
                i++
                return out
            }
            while (true) {
                skipWs()
                out.add(value())
                skipWs()
                if (i >= s.length) fail("unterminated array")
                if (s[i] == ',') {
                    i++
                    continue
                }
                if (s[i] == ']') {
                    i++
                    return out
                }
                fail("expected ',' or ']'")
            }
        }

        fun str(): String {
            i++
            val sb = StringBuilder()
            while (true) {
                if (i >= s.length) fail("unterminated string")
                val ch = s[i]
                if (ch == '"') {
                    i++
                    return sb.toString()
                }
                if (ch == '\\') {
                    if (i + 1 >= s.length) fail("unterminated escape")
                    val e = s[i + 1]
                    i += 2
                    when (e) {
                        '"' -> sb.append('"')
                        '\\' -> sb.append('\\')
                        '/' -> sb.append('/')
                        'b' -> sb.append('\b')
                        'f' -> sb.append('\u000c')
                        'n' -> sb.append('\n')
                        'r' -> sb.append('\r')
                        't' -> sb.append('\t')
                        'u' -> {
                            if (i + 4 > s.length) fail("short \\u escape")
                            val code = s.substring(i, i + 4).toIntOrNull(16) ?: fail("bad \\u escape")
                            // Surrogate pairs arrive as two escapes; appending both code units rebuilds them.
                            sb.append(code.toChar())
                            i += 4
                        }
                        else -> fail("bad escape '\\$e'")
                    }
                } else {
                    sb.append(ch)
                    i++
                }
            }
        }

        fun num(): Any {
            val start = i
            if (s[i] == '-') i++
            var isInt = true
            while (i < s.length) {
                val ch = s[i]
                if (ch in '0'..'9') {
                    i++
                } else if (ch == '.' || ch == 'e' || ch == 'E' || ch == '+' || ch == '-') {
                    isInt = false
                    i++
                } else {
                    break
                }
            }
            val tok = s.substring(start, i)
            if (isInt) {
                val v = tok.toLongOrNull()
                if (v != null) return v
            }
            return tok.toDoubleOrNull() ?: fail("bad number '$tok'")
        }
    }
}

/**
 * Writes `Map`/`List`/arrays/strings/numbers/booleans/null as pretty JSON (2-space indent, keys in
 * map order). Non-finite numbers are refused: JSON has no NaN, and a bench figure must be real.
 */
object JsonWriter {
    /** The JSON text of `value`, ending without a newline. */
    fun write(value: Any?): String {
        val sb = StringBuilder()
        emit(sb, value, 0)
        return sb.toString()
    }

    private fun indent(sb: StringBuilder, level: Int) {
        sb.append('\n')
        for (k in 0 until level) sb.append("  ")
    }

    private fun emit(sb: StringBuilder, v: Any?, level: Int) {
        when (v) {
            null -> sb.append("null")
            is String -> quote(sb, v)
            is Boolean -> sb.append(if (v) "true" else "false")
            is Int, is Long, is Short, is Byte -> sb.append(v.toString())
            is Double -> number(sb, v)
            is Float -> number(sb, v.toDouble(), java.lang.Float.toString(v))
            is Map<*, *> -> {
                if (v.isEmpty()) {
                    sb.append("{}")
                    return
                }
                sb.append('{')
                var first = true
                for ((k, x) in v) {
                    if (!first) sb.append(',')
                    first = false
                    indent(sb, level + 1)
                    quote(sb, k.toString())
                    sb.append(": ")
                    emit(sb, x, level + 1)
                }
                indent(sb, level)
                sb.append('}')
            }
            is Iterable<*> -> list(sb, v.toList(), level)
            is IntArray -> list(sb, v.toList(), level)
            is LongArray -> list(sb, v.toList(), level)
            is DoubleArray -> list(sb, v.toList(), level)
            is FloatArray -> list(sb, v.toList(), level)
            is Array<*> -> list(sb, v.toList(), level)
            else -> throw IllegalArgumentException("cannot write ${v.javaClass.name} as JSON")
        }
    }

    private fun list(sb: StringBuilder, items: List<Any?>, level: Int) {
        if (items.isEmpty()) {
            sb.append("[]")
            return
        }
        // Lists of numbers stay on one line (shapes, samples); lists of objects get one per line.
        val flat = items.all { it == null || it is Number || it is String || it is Boolean }
        sb.append('[')
        for ((k, x) in items.withIndex()) {
            if (k > 0) sb.append(if (flat) ", " else ",")
            if (!flat) indent(sb, level + 1)
            emit(sb, x, level + 1)
        }
        if (!flat) indent(sb, level)
        sb.append(']')
    }

    private fun number(sb: StringBuilder, d: Double, text: String = d.toString()) {
        if (d.isNaN() || d.isInfinite()) throw IllegalArgumentException("JSON has no $d")
        // Java writes 1.0E-5; JSON's exponent grammar accepts that as is.
        sb.append(text)
    }

    private fun quote(sb: StringBuilder, s: String) {
        sb.append('"')
        for (ch in s) {
            when {
                ch == '"' -> sb.append("\\\"")
                ch == '\\' -> sb.append("\\\\")
                ch == '\n' -> sb.append("\\n")
                ch == '\r' -> sb.append("\\r")
                ch == '\t' -> sb.append("\\t")
                ch < ' ' -> sb.append(String.format("\\u%04x", ch - '\u0000'))
                else -> sb.append(ch)
            }
        }
        sb.append('"')
    }
}

/** Typed access into parsed JSON with one-line errors naming the key path. */
class JsonPath(private val root: Any?, private val what: String) {
    /** The value at `path` (keys and list indices), or [JsonError] naming the first missing step. */
    fun at(vararg path: Any): Any? {
        var cur = root
        val walked = StringBuilder()
        for (step in path) {
            walked.append(if (walked.length == 0) "" else ".").append(step.toString())
            cur = when {
                step is String && cur is Map<*, *> -> {
                    if (!cur.containsKey(step)) throw JsonError("$what: missing key '$walked'")
                    cur[step]
                }
                step is Int && cur is List<*> -> {
                    if (step < 0 || step >= cur.size) throw JsonError("$what: '$walked' is out of range")
                    cur[step]
                }
                else -> throw JsonError("$what: '$walked' has the wrong type")
            }
        }
        return cur
    }

    fun has(vararg path: Any): Boolean =
        try {
            at(*path)
            true
        } catch (e: JsonError) {
            false
        }

    fun string(vararg path: Any): String = at(*path) as? String ?: throw typeError(path, "a string")

    fun long(vararg path: Any): Long {
        val v = at(*path)
        return when (v) {
            is Long -> v
            is Double -> if (v == Math.floor(v) && !v.isInfinite()) v.toLong() else throw typeError(path, "an integer")
            else -> throw typeError(path, "an integer")
        }
    }

    fun int(vararg path: Any): Int {
        val v = long(*path)
        if (v < Int.MIN_VALUE || v > Int.MAX_VALUE) throw typeError(path, "a 32-bit integer")
        return v.toInt()
    }

    fun double(vararg path: Any): Double {
        val v = at(*path)
        return (v as? Number)?.toDouble() ?: throw typeError(path, "a number")
    }

    fun map(vararg path: Any): Map<*, *> = at(*path) as? Map<*, *> ?: throw typeError(path, "an object")

    fun list(vararg path: Any): List<*> = at(*path) as? List<*> ?: throw typeError(path, "a list")

    fun ints(vararg path: Any): IntArray {
        val l = list(*path)
        return IntArray(l.size) { k -> int(*path, k) }
    }

    fun doubles(vararg path: Any): DoubleArray {
        val l = list(*path)
        return DoubleArray(l.size) { k -> double(*path, k) }
    }

    fun floats(vararg path: Any): FloatArray {
        val l = list(*path)
        return FloatArray(l.size) { k -> double(*path, k).toFloat() }
    }

    private fun typeError(path: Array<out Any>, kind: String): JsonError =
        JsonError("$what: '${path.joinToString(".")}' must be $kind")
}
