package dev.edgevfi.demo.core

import java.math.BigDecimal
import java.math.RoundingMode

/** Timing summaries computed exactly like the host harness (`export/latency.py` `summarize`). */
object Stats {
    /** Linear interpolation between closest ranks of sorted `xs` (numpy's default percentile). */
    fun percentile(sorted: DoubleArray, q: Double): Double {
        require(sorted.isNotEmpty()) { "no timings to summarize" }
        val pos = q * (sorted.size - 1)
        val lo = pos.toInt()
        val hi = Math.min(lo + 1, sorted.size - 1)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo)
    }

    /** Mean after dropping `int(n * 0.1)` samples at each end (all samples if that leaves none). */
    fun trimmedMean(sorted: DoubleArray): Double {
        val cut = (sorted.size * 0.1).toInt()
        val from = cut
        val to = sorted.size - cut
        val lo = if (to > from) from else 0
        val hi = if (to > from) to else sorted.size
        var sum = 0.0
        for (k in lo until hi) sum += sorted[k]
        return sum / (hi - lo)
    }

    /** Python's `round(x, 4)`: the exact binary value rounded half-even to 4 decimals. */
    fun round4(x: Double): Double = BigDecimal(x).setScale(4, RoundingMode.HALF_EVEN).toDouble()

    /**
     * p50 / p90 / 10 %-trimmed mean / min / max / spread ((p90 - p10) / p50) of timings in ms,
     * keyed as in `schemas/bench.schema.json` (`$defs.timing`), plus the raw samples if asked.
     */
    fun summarize(samplesMs: DoubleArray, keepSamples: Boolean = true): LinkedHashMap<String, Any?> {
        if (samplesMs.isEmpty()) throw IllegalArgumentException("no timings to summarize")
        val xs = samplesMs.copyOf()
        xs.sort()
        val p50 = percentile(xs, 0.5)
        val p90 = percentile(xs, 0.9)
        val out = LinkedHashMap<String, Any?>()
        out["p50_ms"] = p50
        out["p90_ms"] = p90
        out["trimmed_mean_ms"] = trimmedMean(xs)
        out["min_ms"] = xs[0]
        out["max_ms"] = xs[xs.size - 1]
        out["spread"] = if (p50 > 0) (p90 - percentile(xs, 0.1)) / p50 else 0.0
        if (keepSamples) out["samples_ms"] = DoubleArray(samplesMs.size) { k -> round4(samplesMs[k]) }
        return out
    }
}
