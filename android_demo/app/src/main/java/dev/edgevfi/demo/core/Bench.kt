package dev.edgevfi.demo.core

import java.io.File
import java.text.SimpleDateFormat
import java.util.Date
import java.util.Locale
import java.util.Random
import java.util.TimeZone

/** What one bench run measures (the `am start` extras, parsed). */
class BenchRequest(
    val bundlePath: String,
    val backend: String,
    val width: Int,
    val height: Int,
    val threads: Int,
    val runs: Int,
    val warmup: Int,
    val frameRuns: Int = 0,
    val command: String = ""
) {
    init {
        if (backend != "et" && backend != "litert") throw IllegalArgumentException("backend must be et or litert, got '$backend'")
        if (runs < 1 || warmup < 0 || threads < 1) throw IllegalArgumentException("runs must be >= 1, warmup >= 0 and threads >= 1")
        if (frameRuns < 0) throw IllegalArgumentException("frame_runs must be >= 0")
    }
}

/** The platform side of a bench: clock, memory, device description (Android, or the host in checks). */
interface BenchHost {
    /** Monotonic time in nanoseconds. */
    fun nanoTime(): Long

    /** Peak resident set size of this process so far, in MiB. */
    fun peakRssMb(): Double

    /** The schema's `device` object: at least `cpu` and `cores`. */
    fun device(): Map<String, Any?>
}

/** Peak RSS from `/proc/self/status` (VmHWM), shared by the phone and the host checks. */
object ProcStatus {
    /** `VmHWM` of a `/proc/<pid>/status` text in MiB, or null if absent. */
    fun vmHwmMb(status: String): Double? {
        for (line in status.split('\n')) {
            if (!line.startsWith("VmHWM:")) continue
            val kb = line.substring(6).trim().split(' ', '\t')[0].toLongOrNull() ?: return null
            return kb / 1024.0
        }
        return null
    }

    /** This process's VmHWM in MiB (0 where /proc is unavailable). */
    fun peakRssMb(): Double =
        try {
            // A reader, not File.readText: /proc files report length 0, which older Kotlin trusts.
            vmHwmMb(File("/proc/self/status").bufferedReader().use { it.readText() }) ?: 0.0
        } catch (e: Exception) {
            0.0
        }
}

/** A frame pair (3 x H x W float32 each) to interpolate end to end. */
class FramePair(val img0: FloatArray, val img1: FloatArray, val height: Int, val width: Int)

/**
 * The bench procedure of `export/latency.py` `run_bench`, for the phone: each graph at its static
 * shapes (warm-up, then timed runs), then whole output frames through the [TiledRunner]; the
 * result is a map that [JsonWriter] writes per `schemas/bench.schema.json` (`harness: android`).
 */
object Bench {
    const val SCHEMA = "edgevfi-bench/1"

    /** Wall-clock ms of `runs` calls after `warmup` untimed ones. */
    fun timeCalls(host: BenchHost, runs: Int, warmup: Int, fn: () -> Unit): DoubleArray {
        for (k in 0 until warmup) fn()
        val out = DoubleArray(runs)
        for (k in 0 until runs) {
            val t0 = host.nanoTime()
            fn()
            out[k] = (host.nanoTime() - t0) / 1e6
        }
        return out
    }

    /**
     * A smooth texture and a copy shifted by (dx, dy) = (3, -2) px: real motion for the end-to-end
     * frames. Static graphs cost the same on any content; this only keeps the shifts realistic.
     */
    fun syntheticPair(height: Int, width: Int): FramePair {
        fun texture(dx: Int, dy: Int): FloatArray {
            val out = FloatArray(3 * height * width)
            for (c in 0 until 3) {
                for (y in 0 until height) {
                    val yy = (y + dy).toDouble()
                    for (x in 0 until width) {
                        val xx = (x + dx).toDouble()
                        val v = 0.5 + 0.25 * Math.sin(xx * 0.031 + c) * Math.cos(yy * 0.027 - c) + 0.2 * Math.sin((xx + yy) * 0.11)
                        out[(c * height + y) * width + x] = v.toFloat()
                    }
                }
            }
            return out
        }
        return FramePair(texture(0, 0), texture(3, -2), height, width)
    }

    /** Seeded inputs of a synth graph's static shapes: images in [0, 1), motion ~ N(0, 2), integer shifts, t = 0.5. */
    fun synthInputs(spec: GraphSpec, seed: Long = 0): Array<FloatArray> {
        val r = Random(seed)
        return Array(spec.inputs.size) { k ->
            val n = spec.inputs[k].numel
            when (spec.inputs[k].name) {
                "src0", "src1" -> FloatArray(n) { r.nextFloat() }
                "mot0", "mot1" -> FloatArray(n) { (r.nextGaussian() * 2).toFloat() }
                "shift0", "shift1" -> FloatArray(n) { (r.nextInt(9) - 4).toFloat() }
                else -> FloatArray(n) { 0.5f }
            }
        }
    }

    /** UTC time as the host writes it (`%Y-%m-%dT%H:%M:%SZ`). */
    fun nowIso(): String {
        val f = SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss'Z'", Locale.ROOT)
        f.timeZone = TimeZone.getTimeZone("UTC")
        return f.format(Date())
    }

    /**
     * Time `motion` and `synth` of `backend` (already loaded in `loadMs`) and end-to-end frames of
     * `req.width` x `req.height` (`frames`, or a synthetic pair); return the schema's result map.
     */
    fun run(
        manifest: BundleManifest,
        motion: GraphRunner,
        synth: GraphRunner,
        loadMs: Double,
        req: BenchRequest,
        host: BenchHost,
        frames: FramePair? = null,
        manifestSha256: String? = null,
        created: String = nowIso(),
        fineMotion: Map<String, GraphRunner> = emptyMap()
    ): LinkedHashMap<String, Any?> {
        val be = req.backend
        manifest.checkShapes(be)
        val motionSpec = manifest.graph(be, "motion")
        val synthSpec = manifest.graph(be, "synth")
        val synthIn = synthInputs(synthSpec)
        val graphs = LinkedHashMap<String, Any?>()
        val calls = ArrayList<Pair<GraphSpec, () -> Unit>>()
        for ((spec, graph) in listOf(motionSpec to motion) + fineMotion.map { (name, g) -> manifest.graph(be, name) to g }) {
            val canvasPair = syntheticPair(spec.inputs[0].shape[2], spec.inputs[0].shape[3])
            val motionIn = arrayOf(canvasPair.img0, canvasPair.img1)
            calls.add(spec to { graph.run(motionIn); Unit })
        }
        calls.add(synthSpec to { synth.run(synthIn); Unit })
        for ((spec, call) in calls) {
            val stats = Stats.summarize(timeCalls(host, req.runs, req.warmup, call))
            stats["macs"] = spec.macs
            stats["gmacs_per_s"] = spec.macs / ((stats["p50_ms"] as Double) * 1e6)
            stats["input_shapes"] = spec.inputs.map { it.shape.toList() }
            graphs[spec.name] = stats
        }

        val pair = frames ?: syntheticPair(req.height, req.width)
        if (pair.height != req.height || pair.width != req.width) {
            throw IllegalArgumentException("frames are ${pair.width}x${pair.height}, not the requested ${req.width}x${req.height}")
        }
        val runner = TiledRunner(motion, synth, RunnerShapes.of(manifest, be), fineMotion)
        val plan = runner.plan(req.height, req.width)
        val frameRuns = if (req.frameRuns > 0) req.frameRuns else Math.max(3, req.runs / 3)
        val e2e = Stats.summarize(
            timeCalls(host, frameRuns, Math.min(req.warmup, 1)) {
                runner.synthesize(runner.prepare(pair.img0, pair.img1, pair.height, pair.width), 0.5)
            }
        )
        // The motion-adaptive second pass runs or not depending on the pair: ask the runner.
        val canvas = runner.prepare(pair.img0, pair.img1, pair.height, pair.width).canvas
        val fineGraph = if (canvas.h != manifest.canvasH || canvas.w != manifest.canvasW) manifest.graph(be, canvas.graphName) else null
        val macs = motionSpec.macs + (fineGraph?.macs ?: 0L) + plan.windowCount.toLong() * synthSpec.macs
        e2e["motion_calls"] = if (fineGraph == null) 1 else 2
        e2e["motion_canvas"] = listOf(canvas.h, canvas.w)
        e2e["synth_calls"] = plan.windowCount
        e2e["macs"] = macs
        e2e["gmacs_per_s"] = macs / ((e2e["p50_ms"] as Double) * 1e6)

        val bundle = LinkedHashMap<String, Any?>()
        bundle["path"] = req.bundlePath
        bundle["model"] = manifest.modelName
        bundle["precision"] = manifest.precision
        bundle["warp_impl"] = manifest.warpImpl(be)
        if (manifestSha256 != null) bundle["manifest_sha256"] = manifestSha256

        val tilePlan = LinkedHashMap<String, Any?>()
        tilePlan["canvas"] = listOf(manifest.canvasH, manifest.canvasW)
        tilePlan["tile"] = plan.tile
        tilePlan["halo"] = plan.halo
        tilePlan["overlap"] = plan.overlap
        tilePlan["windows"] = plan.windowCount

        val out = LinkedHashMap<String, Any?>()
        out["schema"] = SCHEMA
        out["harness"] = "android"
        out["created"] = created
        out["command"] = req.command
        out["bundle"] = bundle
        out["backend"] = be
        out["size"] = listOf(req.width, req.height)
        out["threads"] = req.threads
        out["runs"] = req.runs
        out["warmup"] = req.warmup
        out["load_ms"] = loadMs
        out["peak_rss_mb"] = host.peakRssMb()
        out["tile_plan"] = tilePlan
        out["graphs"] = graphs
        out["end_to_end"] = e2e
        // No "roofline": the phone harness has no tuned reference GEMM to measure a peak with.
        out["device"] = host.device()
        return out
    }
}
