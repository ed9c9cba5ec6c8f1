package dev.edgevfi.demo

import android.app.Activity
import android.content.Intent
import android.os.Bundle
import android.util.Log
import android.view.WindowManager
import android.widget.TextView
import dev.edgevfi.demo.core.Bench
import dev.edgevfi.demo.core.BenchRequest
import dev.edgevfi.demo.core.BundleManifest
import dev.edgevfi.demo.core.FramePair
import dev.edgevfi.demo.core.GraphRunner
import dev.edgevfi.demo.core.JsonWriter
import dev.edgevfi.demo.core.CanvasChoice
import dev.edgevfi.demo.core.RunnerShapes
import dev.edgevfi.demo.core.Sizes
import dev.edgevfi.demo.core.TiledRunner
import java.io.File

/**
 * Benchmarks a pushed bundle on one backend and writes the bench JSON (schemas/bench.schema.json,
 * `harness: android`) to `files/<out>` (read with `run-as`) and to the external files dir.
 *
 *     adb shell am start -n dev.edgevfi.demo/.BenchActivity \
 *         --es bundle /data/local/tmp/edgevfi/bundle --es backend et --es size 1280x720 \
 *         --ei threads 4 --ei runs 20 [--ei warmup 3] [--ei frame_runs 0] \
 *         [--es frame0 /data/local/tmp/edgevfi/a.png --es frame1 /data/local/tmp/edgevfi/b.png] \
 *         [--es save_frame mid.png] [--es out bench.json]
 *
 * A failure writes `<out>.error` (one line) instead, so the host script can stop polling at once.
 */
class BenchActivity : Activity() {
    private lateinit var status: TextView

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        status = TextView(this)
        status.setPadding(32, 32, 32, 32)
        setContentView(status)
        // A dimmed or sleeping screen lets the governor drop clocks mid-run.
        window.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        if (savedInstanceState != null) return // a rotation must not start a second run
        val intent = intent
        val out = intent.getStringExtra("out") ?: "bench.json"
        show("EdgeVFI bench: starting")
        Thread({ runBench(intent, out) }, "edgevfi-bench").start()
    }

    private fun show(text: String) {
        Log.i(TAG, text)
        runOnUiThread { status.text = text }
    }

    private fun runBench(intent: Intent, out: String) {
        // filesDir (read by run.py through run-as on the debug APK) must work; the external copy
        // (readable without run-as) is best effort.
        val external = getExternalFilesDir(null)
        for (d in listOfNotNull(filesDir, external)) {
            File(d, out).delete()
            File(d, "$out.error").delete()
        }
        fun publish(name: String, text: String) {
            writeAtomically(File(filesDir, name), text)
            if (external != null) {
                try {
                    writeAtomically(File(external, name), text)
                } catch (e: Exception) {
                    Log.w(TAG, "no external copy of $name: ${e.message}")
                }
            }
        }
        try {
            val text = JsonWriter.write(bench(intent)) + "\n"
            publish(out, text)
            show("done: ${File(filesDir, out)}\n\n$text")
        } catch (e: Throwable) {
            val msg = (e.message ?: e.javaClass.simpleName).replace('\n', ' ')
            Log.e(TAG, "bench failed", e)
            publish("$out.error", "${e.javaClass.simpleName}: $msg\n")
            show("failed: $msg")
        }
    }

    private fun bench(intent: Intent): Map<String, Any?> {
        val bundlePath = intent.getStringExtra("bundle")
            ?: throw IllegalArgumentException("missing --es bundle /data/local/tmp/edgevfi/bundle")
        val backend = intent.getStringExtra("backend") ?: "et"
        val size = Sizes.parse(intent.getStringExtra("size") ?: "1280x720")
        val req = BenchRequest(
            bundlePath,
            backend,
            size[0],
            size[1],
            intent.getIntExtra("threads", 4),
            intent.getIntExtra("runs", 20),
            intent.getIntExtra("warmup", 3),
            intent.getIntExtra("frame_runs", 0),
            command(intent)
        )
        val dir = File(bundlePath)
        show("reading $bundlePath")
        val manifest = BundleManifest.load(dir)
        manifest.checkShapes(backend)
        manifest.verifyFiles(dir, backend) // a truncated push fails here, not as a crash mid-run
        val sha = BundleManifest.sha256(File(dir, "manifest.json"))

        show("loading ${manifest.modelName} on $backend (${req.threads} threads)")
        val t0 = System.nanoTime()
        val motion = Runtimes.load(backend, File(dir, manifest.graph(backend, "motion").file), manifest.graph(backend, "motion"), req.threads)
        val synth = Runtimes.load(backend, File(dir, manifest.graph(backend, "synth").file), manifest.graph(backend, "synth"), req.threads)
        // The motion-adaptive second pass: one motion graph per fine canvas (none in older bundles).
        val fineMotion = manifest.fineCanvases.associate { c ->
            val spec = manifest.graph(backend, CanvasChoice.graphName(c[0], c[1]))
            spec.name to Runtimes.load(backend, File(dir, spec.file), spec, req.threads)
        }
        val loadMs = (System.nanoTime() - t0) / 1e6
        try {
            val f0 = intent.getStringExtra("frame0")
            val f1 = intent.getStringExtra("frame1")
            val frames = if (f0 != null && f1 != null) Frames.loadPair(f0, f1, req.height, req.width) else null
            show("timing graphs and ${req.width}x${req.height} frames (${req.runs} runs, ${req.warmup} warm-up)")
            val result = Bench.run(manifest, motion, synth, loadMs, req, AndroidHost, frames, sha, fineMotion = fineMotion)
            intent.getStringExtra("save_frame")?.let { name ->
                saveMiddleFrame(manifest, backend, motion, synth, fineMotion, req, frames, name)
            }
            return result
        } finally {
            motion.close()
            synth.close()
            for (g in fineMotion.values) g.close()
        }
    }

    /** One interpolated frame (t = 0.5) as PNG in the files dirs, to eyeball that the graphs ran right. */
    private fun saveMiddleFrame(
        manifest: BundleManifest,
        backend: String,
        motion: GraphRunner,
        synth: GraphRunner,
        fineMotion: Map<String, GraphRunner>,
        req: BenchRequest,
        frames: FramePair?,
        name: String
    ) {
        val pair = frames ?: Bench.syntheticPair(req.height, req.width)
        val runner = TiledRunner(motion, synth, RunnerShapes.of(manifest, backend), fineMotion)
        val mid = runner.synthesize(runner.prepare(pair.img0, pair.img1, pair.height, pair.width), 0.5)
        for (d in listOfNotNull(filesDir, getExternalFilesDir(null))) Frames.save(mid, pair.height, pair.width, File(d, name))
    }

    /** The `am start` line that reproduces this run (recorded in the JSON's `command`). */
    private fun command(intent: Intent): String {
        val sb = StringBuilder("am start -n dev.edgevfi.demo/.BenchActivity")
        val extras = intent.extras ?: return sb.toString()
        for (k in extras.keySet().sorted()) {
            @Suppress("DEPRECATION") // Bundle.get(String): the typed getters need the type up front
            val v = extras.get(k)
            sb.append(if (v is Int) " --ei " else " --es ").append(k).append(' ').append(v.toString())
        }
        return sb.toString()
    }

    private fun writeAtomically(f: File, text: String) {
        val tmp = File(f.parentFile, f.name + ".tmp")
        tmp.writeText(text)
        if (!tmp.renameTo(f)) throw IllegalStateException("cannot write $f")
    }

    companion object {
        const val TAG = "EdgeVFI"
    }
}
