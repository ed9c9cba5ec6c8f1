package dev.edgevfi.demo

import android.os.Build
import dev.edgevfi.demo.core.BenchHost
import dev.edgevfi.demo.core.ProcStatus
import java.io.File

/** The phone as a [BenchHost]: monotonic clock, VmHWM, and the schema's `device` object. */
object AndroidHost : BenchHost {
    override fun nanoTime(): Long = System.nanoTime()

    override fun peakRssMb(): Double = ProcStatus.peakRssMb()

    override fun device(): Map<String, Any?> {
        val d = LinkedHashMap<String, Any?>()
        d["cpu"] = soc()
        d["cores"] = Runtime.getRuntime().availableProcessors()
        d["os"] = "Android ${Build.VERSION.RELEASE} (API ${Build.VERSION.SDK_INT})"
        d["machine"] = Build.SUPPORTED_ABIS.firstOrNull() ?: System.getProperty("os.arch")
        d["model"] = "${Build.MANUFACTURER} ${Build.MODEL}"
        d["hardware"] = Build.HARDWARE
        d["board"] = Build.BOARD
        d["max_freq_khz"] = maxFreqsKhz()
        d["versions"] = linkedMapOf<String, Any?>(
            "executorch-android" to BuildConfig.EXECUTORCH_VERSION,
            "litert" to BuildConfig.LITERT_VERSION,
            "app" to BuildConfig.VERSION_NAME,
            "kernel" to System.getProperty("os.version")
        )
        return d
    }

    /** SoC name: Build.SOC_* (API 31+), else /proc/cpuinfo's Hardware line, else Build.HARDWARE. */
    private fun soc(): String {
        if (Build.VERSION.SDK_INT >= 31 && Build.SOC_MODEL != Build.UNKNOWN) {
            return "${Build.SOC_MANUFACTURER} ${Build.SOC_MODEL}"
        }
        try {
            for (line in File("/proc/cpuinfo").bufferedReader().use { it.readLines() }) {
                if (line.startsWith("Hardware")) return line.substringAfter(':').trim()
            }
        } catch (e: Exception) {
            // Some kernels hide /proc/cpuinfo from apps; fall through.
        }
        return Build.HARDWARE
    }

    /** Max frequency of each core (big.LITTLE clusters show as groups), empty if unreadable. */
    private fun maxFreqsKhz(): List<Long> {
        val out = ArrayList<Long>()
        for (k in 0 until Runtime.getRuntime().availableProcessors()) {
            val f = File("/sys/devices/system/cpu/cpu$k/cpufreq/cpuinfo_max_freq")
            val v = try {
                f.bufferedReader().use { it.readText() }.trim().toLongOrNull()
            } catch (e: Exception) {
                null
            }
            if (v != null) out.add(v)
        }
        return out
    }
}
