package dev.edgevfi.demo

// A self-checking program (no JUnit: nothing to download offline) comparing the plain-Kotlin core
// with goldens written by the Python code (scripts/export_tile_goldens.py). Exits 1 on any mismatch.
//
//   kotlinc app/src/main/java/dev/edgevfi/demo/core/*.kt app/src/test/kotlin/dev/edgevfi/demo/GoldenCheck.kt \
//       -include-runtime -d golden-check.jar
//   java -jar golden-check.jar app/src/test/resources/goldens [--bench-out bench.json]
//       [--manifest BUNDLE/manifest.json --manifest-out summary.json --manifest-bench-out bench2.json]
//
// Ints must match exactly; floats within 1e-6 relative to max(1, |expected|) (float32 rounding of
// the same operations in another order, e.g. a fused multiply-add in PyTorch's kernels).

import dev.edgevfi.demo.core.Bench
import dev.edgevfi.demo.core.BenchHost
import dev.edgevfi.demo.core.BenchRequest
import dev.edgevfi.demo.core.BundleManifest
import dev.edgevfi.demo.core.FramePair
import dev.edgevfi.demo.core.GraphRunner
import dev.edgevfi.demo.core.GraphSpec
import dev.edgevfi.demo.core.JsonPath
import dev.edgevfi.demo.core.JsonReader
import dev.edgevfi.demo.core.JsonWriter
import dev.edgevfi.demo.core.ProcStatus
import dev.edgevfi.demo.core.Region
import dev.edgevfi.demo.core.RegionOps
import dev.edgevfi.demo.core.CanvasChoice
import dev.edgevfi.demo.core.MotionCanvas
import dev.edgevfi.demo.core.RunnerShapes
import dev.edgevfi.demo.core.Sizes
import dev.edgevfi.demo.core.Stats
import dev.edgevfi.demo.core.TensorSpec
import dev.edgevfi.demo.core.TiledRunner
import dev.edgevfi.demo.core.TilePlan
import java.io.File
import kotlin.system.exitProcess

const val TOL = 1e-6

/** Counts checks and collects the first failures. */
class Checker {
    var checks = 0
    val failures = ArrayList<String>()

    fun fail(msg: String) {
        failures.add(msg)
    }

    fun check(cond: Boolean, what: () -> String) {
        checks++
        if (!cond) fail(what())
    }

    fun ints(name: String, got: IntArray, want: IntArray) =
        check(got.contentEquals(want)) { "$name: got ${got.toList()}, want ${want.toList()}" }

    fun close(name: String, got: Double, want: Double, tol: Double = TOL) =
        check(Math.abs(got - want) <= tol * Math.max(1.0, Math.abs(want))) { "$name: got $got, want $want" }

    fun floats(name: String, got: FloatArray, want: DoubleArray, tol: Double = TOL) {
        checks++
        if (got.size != want.size) {
            fail("$name: ${got.size} values, want ${want.size}")
            return
        }
        var worst = -1
        var worstErr = 0.0
        for (k in got.indices) {
            // Goldens hold float32 values as their shortest decimals: compare as float32.
            val w = want[k].toFloat().toDouble()
            val err = Math.abs(got[k] - w) / Math.max(1.0, Math.abs(w))
            if (err > worstErr) {
                worstErr = err
                worst = k
            }
        }
        if (worstErr > tol) fail("$name: value $worst is ${got[worst]}, want ${want[worst]} (rel. error $worstErr)")
    }
}

fun load(dir: File, name: String): JsonPath = JsonPath(JsonReader.parse(File(dir, name).readText(Charsets.UTF_8)), name)

/** Grid origins stored in full, or as {len, head, tail} for long grids. */
fun checkStarts(c: Checker, name: String, j: JsonPath, k: Int, axis: String, got: IntArray) {
    val v = j.at("cases", k, axis)
    if (v is List<*>) {
        c.ints(name, got, j.ints("cases", k, axis))
        return
    }
    c.check(got.size == j.int("cases", k, axis, "len")) { "$name: ${got.size} starts, want ${j.int("cases", k, axis, "len")}" }
    c.ints("$name head", got.copyOfRange(0, 4), j.ints("cases", k, axis, "head"))
    c.ints("$name tail", got.copyOfRange(got.size - 4, got.size), j.ints("cases", k, axis, "tail"))
}

fun checkTilePlans(c: Checker, dir: File) {
    val j = load(dir, "tile_plans.json")
    for (k in j.list("cases").indices) {
        val hw = j.ints("cases", k, "frame_hw")
        val cfg = intArrayOf(j.int("cases", k, "tile"), j.int("cases", k, "halo"), j.int("cases", k, "overlap"), j.int("cases", k, "align"))
        val name = "plan ${hw.toList()} ${cfg.toList()}"
        var plan: TilePlan? = null
        var error: String? = null
        try {
            plan = TilePlan(hw[0], hw[1], cfg[0], cfg[1], cfg[2], cfg[3])
        } catch (e: IllegalArgumentException) {
            error = e.message
        }
        if (j.has("cases", k, "error")) {
            c.check(error != null) { "$name: accepted, Python raises ${j.string("cases", k, "error")}" }
            // ValueError messages are ported verbatim; Python's ZeroDivisionError gets a clearer one.
            if (error != null && j.string("cases", k, "error") == "ValueError") {
                c.check(error == j.string("cases", k, "message")) { "$name: message '$error', want '${j.string("cases", k, "message")}'" }
            }
            continue
        }
        if (plan == null) {
            c.fail("$name: refused ($error), Python accepts it")
            continue
        }
        c.check(plan.core == j.int("cases", k, "core") && plan.stride == j.int("cases", k, "stride")) { "$name: core/stride" }
        checkStarts(c, "$name ys", j, k, "ys", plan.ys)
        checkStarts(c, "$name xs", j, k, "xs", plan.xs)
        c.check(plan.windowCount == j.int("cases", k, "windows")) { "$name: ${plan.windowCount} windows" }
        val ws = plan.windows()
        fun asInts(i: Int): IntArray {
            val w = ws[i]
            return intArrayOf(w.iy, w.ix, w.region.y0, w.region.x0, w.region.h, w.region.w)
        }
        c.ints("$name first window", asInts(0), j.ints("cases", k, "first_window"))
        c.ints("$name last window", asInts(ws.size - 1), j.ints("cases", k, "last_window"))
    }
    for (k in j.list("ramps").indices) {
        val t = j.int("ramps", k, "tile")
        val h = j.int("ramps", k, "halo")
        val o = j.int("ramps", k, "overlap")
        val a = j.int("ramps", k, "align")
        val n = j.int("ramps", k, "n")
        val i = j.int("ramps", k, "index")
        val plan = TilePlan(1, t, t, h, o, a)
        c.floats("ramp tile $t halo $h overlap $o window $i of $n", plan.ramp(n, i), j.doubles("ramps", k, "ramp"))
    }
    for (k in j.list("blend").indices) {
        val hw = j.ints("blend", k, "frame_hw")
        val plan = TilePlan(hw[0], hw[1], j.int("blend", k, "tile"), j.int("blend", k, "halo"), j.int("blend", k, "overlap"), j.int("blend", k, "align"))
        val iy = j.int("blend", k, "iy")
        val ix = j.int("blend", k, "ix")
        c.floats("blend weight ($iy, $ix)", plan.blendWeight(iy, ix), j.doubles("blend", k, "weight"))
    }
}

/** The golden's integer-formula image: ((x*a + y*b + c*d + e) % mod) / (mod - 1), float32. */
fun formulaImage(c: Int, h: Int, w: Int, f: IntArray): FloatArray {
    val out = FloatArray(c * h * w)
    for (ch in 0 until c) for (y in 0 until h) for (x in 0 until w) {
        out[(ch * h + y) * w + x] = ((x * f[0] + y * f[1] + ch * f[2] + f[3]) % f[4]).toFloat() / (f[4] - 1).toFloat()
    }
    return out
}

fun region(ints: IntArray): Region = Region(ints[0], ints[1], ints[2], ints[3])

fun checkRegionOps(c: Checker, dir: File) {
    val j = load(dir, "region_ops.json")
    val shape = j.ints("image", "shape")
    val img = formulaImage(shape[0], shape[1], shape[2], j.ints("image", "formula"))
    c.floats("formula image", img, j.doubles("image", "values"), 0.0)
    for (k in j.list("crop_index").indices) {
        val got = RegionOps.clampedIndex(j.int("crop_index", k, "start"), j.int("crop_index", k, "length"), j.int("crop_index", k, "size"))
        c.ints("crop index $k", got, j.ints("crop_index", k, "out"))
    }
    for (k in j.list("crop").indices) {
        val r = region(j.ints("crop", k, "region"))
        c.floats("crop $r", RegionOps.cropReplicate(img, shape[0], shape[1], shape[2], r), j.doubles("crop", k, "out"), 0.0)
    }
    val ms = j.ints("motion", "shape")
    val canvas = j.ints("motion", "canvas_hw")
    val motion = j.floats("motion", "values")
    for (k in j.list("mean_displacement").indices) {
        val hw = j.ints("mean_displacement", k, "frame_hw")
        val r = region(j.ints("mean_displacement", k, "region"))
        val got = RegionOps.regionMeanDisplacement(motion, ms[1], ms[2], canvas[0], canvas[1], hw[0], hw[1], r)
        c.floats("mean displacement ${hw.toList()} $r", got, j.doubles("mean_displacement", k, "out"))
    }
    for (k in j.list("sample_motion").indices) {
        val hw = j.ints("sample_motion", k, "frame_hw")
        val r = region(j.ints("sample_motion", k, "region"))
        val dc = j.int("sample_motion", k, "dc")
        val got = RegionOps.sampleMotion(motion, ms[0], ms[1], ms[2], canvas[0], canvas[1], hw[0], hw[1], r, dc)
        c.floats("sample_motion ${hw.toList()} $r dc $dc", got, j.doubles("sample_motion", k, "out"))
    }
    for (k in j.list("shift").indices) {
        val frac = j.double("shift", k, "frac")
        val disp = j.floats("shift", k, "disp")
        c.ints("round($frac * ${disp.toList()})", RegionOps.roundShift(frac, disp), j.ints("shift", k, "out"))
    }
    val rs = j.ints("resize_image", "shape")
    val src = formulaImage(rs[0], rs[1], rs[2], j.ints("resize_image", "formula"))
    c.floats("resize source", src, j.doubles("resize_image", "values"), 0.0)
    for (k in j.list("resize").indices) {
        val o = j.ints("resize", k, "out_hw")
        c.floats("resize to ${o.toList()}", RegionOps.resizeBilinear(src, rs[0], rs[1], rs[2], o[0], o[1]), j.doubles("resize", k, "out"))
    }
}

/** Motion graph stand-in: checks the canvas input it is given, returns the golden's motion. */
class FakeMotion(val m0: FloatArray, val m1: FloatArray, val canvas0: DoubleArray?, val c: Checker?) : GraphRunner {
    override fun run(inputs: Array<FloatArray>): Array<FloatArray> {
        if (canvas0 != null && c != null) c.floats("runner canvas input", inputs[0], canvas0)
        return arrayOf(m0, m1)
    }

    override fun close() {}
}

/** Synth graph stand-in: `fake_synth` of scripts/export_tile_goldens.py, same float32 operations in the same order. */
class FakeSynth(val tile: Int, val motionC: Int) : GraphRunner {
    private val out = FloatArray(3 * tile * tile)

    override fun run(inputs: Array<FloatArray>): Array<FloatArray> {
        val src0 = inputs[0]
        val src1 = inputs[1]
        val mot0 = inputs[2]
        val mot1 = inputs[3]
        val s0 = inputs[4]
        val s1 = inputs[5]
        val t = inputs[6][0]
        val k = s0[0] + 2f * s0[1] - s1[0] + 3f * s1[1]
        val t2 = tile * tile
        for (ch in 0 until 3) {
            val a = (ch % motionC) * t2
            val b = ((ch + 1) % motionC) * t2
            for (p in 0 until t2) {
                out[ch * t2 + p] = src0[ch * t2 + p] * (1f - t) + src1[ch * t2 + p] * t + 0.01f * mot0[a + p] - 0.02f * mot1[b + p] + 0.001f * k
            }
        }
        return arrayOf(out)
    }

    override fun close() {}
}

/** Synth graph stand-in for bench runs: returns its first source crop. */
class EchoSynth : GraphRunner {
    override fun run(inputs: Array<FloatArray>): Array<FloatArray> = arrayOf(inputs[0])

    override fun close() {}
}

class ZeroMotion(val numel: Int) : GraphRunner {
    private val m = FloatArray(numel)

    override fun run(inputs: Array<FloatArray>): Array<FloatArray> = arrayOf(m, m)

    override fun close() {}
}

fun checkRunner(c: Checker, dir: File) {
    val j = load(dir, "runner.json")
    val hw = j.ints("frame_hw")
    val canvas = j.ints("canvas_hw")
    val ms = j.ints("motion_shape")
    val shapes = RunnerShapes(canvas[0], canvas[1], j.int("tile"), j.int("halo"), j.int("overlap"), j.int("align"), j.int("displacement_channels"), ms[0], ms[1], ms[2])
    val img0 = formulaImage(3, hw[0], hw[1], j.ints("img0_formula"))
    val img1 = formulaImage(3, hw[0], hw[1], j.ints("img1_formula"))
    val runner = TiledRunner(FakeMotion(j.floats("m0"), j.floats("m1"), j.doubles("canvas0"), c), FakeSynth(shapes.tile, ms[0]), shapes)
    val pair = runner.prepare(img0, img1, hw[0], hw[1])
    for (k in j.list("outputs").indices) {
        val t = j.double("outputs", k, "t")
        val shifts = ArrayList<IntArray>()
        val frame = runner.synthesize(pair, t, shifts)
        val want = j.list("outputs", k, "shifts")
        c.check(shifts.size == want.size) { "runner t=$t: ${shifts.size} windows, want ${want.size}" }
        for (w in 0 until Math.min(shifts.size, want.size)) c.ints("runner t=$t window $w shifts", shifts[w], j.ints("outputs", k, "shifts", w))
        if (j.at("outputs", k, "out") != null) c.floats("runner t=$t frame", frame, j.doubles("outputs", k, "out"))
    }
    // The motion-adaptive second pass: two fine canvases (one above the frame), the rule picks the
    // other, runs its graph on the frame resized to it, and the frame is Python's.
    val f = j.ints("fine", "motion_shape")
    val fine = j.list("fine", "canvases").indices.map { k ->
        val hw2 = j.ints("fine", "canvases", k)
        MotionCanvas(hw2[0], hw2[1], f[1], f[2])
    }
    val fineShapes = RunnerShapes(
        canvas[0], canvas[1], j.int("tile"), j.int("halo"), j.int("overlap"), j.int("align"), j.int("displacement_channels"),
        ms[0], ms[1], ms[2], fine, j.double("fine", "reach"), j.int("fine", "multiple")
    )
    val want = j.ints("fine", "canvas_hw")
    val fineGraphs = fine.associate { fc ->
        val input = if (fc.h == want[0] && fc.w == want[1]) j.doubles("fine", "canvas_input") else null
        fc.graphName to FakeMotion(j.floats("fine", "m0"), j.floats("fine", "m1"), input, c)
    }
    val fineRunner = TiledRunner(FakeMotion(j.floats("m0"), j.floats("m1"), null, null), FakeSynth(shapes.tile, ms[0]), fineShapes, fineGraphs)
    val finePair = fineRunner.prepare(img0, img1, hw[0], hw[1])
    c.ints("runner fine canvas", intArrayOf(finePair.canvas.h, finePair.canvas.w), want)
    val fineShifts = ArrayList<IntArray>()
    val fineFrame = fineRunner.synthesize(finePair, j.double("fine", "t"), fineShifts)
    val wantShifts = j.list("fine", "shifts")
    c.check(fineShifts.size == wantShifts.size) { "runner fine: ${fineShifts.size} windows, want ${wantShifts.size}" }
    for (w in 0 until Math.min(fineShifts.size, wantShifts.size)) c.ints("runner fine window $w shifts", fineShifts[w], j.ints("fine", "shifts", w))
    c.floats("runner fine frame", fineFrame, j.doubles("fine", "out"))
    // A portrait frame on the landscape canvas: both motion passes on the transposed frames, the
    // motion transposed back with x/y swapped, the frame Python's.
    val phw = j.ints("portrait", "frame_hw")
    val pimg0 = formulaImage(3, phw[0], phw[1], j.ints("portrait", "img0_formula"))
    val pimg1 = formulaImage(3, phw[0], phw[1], j.ints("portrait", "img1_formula"))
    val pwant = j.ints("portrait", "canvas_hw")
    val portraitGraphs = fine.associate { fc ->
        val input = if (fc.h == pwant[1] && fc.w == pwant[0]) j.doubles("portrait", "canvas_input") else null
        fc.graphName to FakeMotion(j.floats("fine", "m0"), j.floats("fine", "m1"), input, c)
    }
    val portraitRunner = TiledRunner(
        FakeMotion(j.floats("m0"), j.floats("m1"), j.doubles("portrait", "canvas0"), c), FakeSynth(shapes.tile, ms[0]), fineShapes, portraitGraphs
    )
    val portraitPair = portraitRunner.prepare(pimg0, pimg1, phw[0], phw[1])
    c.ints("runner portrait canvas", intArrayOf(portraitPair.canvas.h, portraitPair.canvas.w), pwant)
    c.floats("runner portrait motion", portraitPair.m0, j.doubles("portrait", "m0"))
    val portraitShifts = ArrayList<IntArray>()
    val portraitFrame = portraitRunner.synthesize(portraitPair, j.double("portrait", "t"), portraitShifts)
    val pShifts = j.list("portrait", "shifts")
    c.check(portraitShifts.size == pShifts.size) { "runner portrait: ${portraitShifts.size} windows, want ${pShifts.size}" }
    for (w in 0 until Math.min(portraitShifts.size, pShifts.size)) {
        c.ints("runner portrait window $w shifts", portraitShifts[w], j.ints("portrait", "shifts", w))
    }
    c.floats("runner portrait frame", portraitFrame, j.doubles("portrait", "out"))
    // With no motion and a synth that returns its crop, the blend must give back the frame: the
    // weights are a partition of unity over every pixel.
    val still = TiledRunner(ZeroMotion(ms[0] * ms[1] * ms[2]), EchoSynth(), shapes)
    val back = still.synthesize(still.prepare(img0, img1, hw[0], hw[1]), 0.5)
    c.floats("blend of unshifted crops is the frame", back, DoubleArray(img0.size) { img0[it].toDouble() })
}

fun checkCanvasChoice(c: Checker, dir: File) {
    val j = load(dir, "canvas_choice.json")
    val canvas = j.ints("canvas_hw")
    val grid = j.ints("motion_hw")
    val small = j.ints("small_hw")
    val candidates = j.list("candidates").indices.map { k ->
        val hw = j.ints("candidates", k)
        MotionCanvas(hw[0], hw[1], grid[0], grid[1])
    }
    // Nearest upsampling by integer factors, as the golden made the motion.
    fun upsample(m: FloatArray): FloatArray {
        val out = FloatArray(2 * grid[0] * grid[1])
        for (ch in 0 until 2) for (y in 0 until grid[0]) for (x in 0 until grid[1]) {
            val sy = y * small[0] / grid[0]
            val sx = x * small[1] / grid[1]
            out[(ch * grid[0] + y) * grid[1] + x] = m[(ch * small[0] + sy) * small[1] + sx]
        }
        return out
    }
    val motions = j.list("motions").indices.map { k -> upsample(j.floats("motions", k, "m0")) to upsample(j.floats("motions", k, "m1")) }
    for (k in j.list("cases").indices) {
        val hw = j.ints("cases", k, "frame_hw")
        val (m0, m1) = motions[j.int("cases", k, "motion")]
        val got = CanvasChoice.pick(
            hw[0], hw[1], canvas[0], canvas[1], candidates, m0, m1, 2, grid[0], grid[1], 2, j.double("reach"), j.int("multiple"),
            upscale = j.double("cases", k, "upscale")
        )
        val want = j.int("cases", k, "out")
        c.check(got == want) {
            "canvas choice case $k (frame ${hw.toList()}, motion ${j.int("cases", k, "motion")}, upscale ${j.double("cases", k, "upscale")}): $got, want $want"
        }
    }
    c.check(CanvasChoice.quantile(floatArrayOf(3f, 1f, 2f, 4f), 0.5) == 2.5) { "quantile of 1..4 at 0.5 is not 2.5" }
}

fun checkStats(c: Checker, dir: File) {
    val j = load(dir, "stats.json")
    for (k in j.list("cases").indices) {
        val samples = j.doubles("cases", k, "samples")
        val got = Stats.summarize(samples)
        val name = "summarize ${samples.size} samples"
        for (key in listOf("p50_ms", "p90_ms", "min_ms", "max_ms", "spread")) c.close("$name $key", got[key] as Double, j.double("cases", k, "out", key), 1e-12)
        // Python's fmean sums exactly (fsum); a plain sum may differ in the last bits.
        c.close("$name trimmed_mean_ms", got["trimmed_mean_ms"] as Double, j.double("cases", k, "out", "trimmed_mean_ms"), 1e-12)
        val rounded = got["samples_ms"] as DoubleArray
        val want = j.doubles("cases", k, "out", "samples_ms")
        c.check(rounded.contentEquals(want)) { "$name samples_ms: ${rounded.toList()} want ${want.toList()}" }
    }
}

fun checkSizes(c: Checker, dir: File) {
    val j = load(dir, "sizes.json")
    for (k in j.list("cases").indices) {
        val text = j.string("cases", k, "text")
        var got: IntArray? = null
        var err: String? = null
        try {
            got = Sizes.parse(text)
        } catch (e: IllegalArgumentException) {
            err = e.message
        }
        if (j.has("cases", k, "out")) {
            c.check(got != null && got.contentEquals(j.ints("cases", k, "out"))) { "size '$text': got ${got?.toList()} / $err" }
        } else {
            c.check(err == j.string("cases", k, "error")) { "size '$text': error '$err', want '${j.string("cases", k, "error")}'" }
        }
    }
}

/** The host standing in for a phone: JVM clock, /proc VmHWM, a description marking it as a check. */
class JvmHost : BenchHost {
    override fun nanoTime(): Long = System.nanoTime()

    override fun peakRssMb(): Double = ProcStatus.peakRssMb()

    override fun device(): Map<String, Any?> {
        val d = LinkedHashMap<String, Any?>()
        d["cpu"] = "JVM " + System.getProperty("java.vm.name")
        d["cores"] = Runtime.getRuntime().availableProcessors()
        d["os"] = System.getProperty("os.name") + " " + System.getProperty("os.version")
        d["machine"] = System.getProperty("os.arch")
        d["model"] = "GoldenCheck (host, fake graphs)"
        d["versions"] = linkedMapOf<String, Any?>("kotlin" to KotlinVersion.CURRENT.toString(), "java" to System.getProperty("java.version"), "executorch-android" to null)
        return d
    }
}

fun writeJson(path: String, value: Any?) {
    val f = File(path)
    f.writeText(JsonWriter.write(value) + "\n", Charsets.UTF_8)
}

/** A sample phone result with fake graphs on the runner golden's shapes; also checks it reads back. */
fun benchSample(c: Checker, dir: File, out: String) {
    val j = load(dir, "runner.json")
    val canvas = j.ints("canvas_hw")
    val ms = j.ints("motion_shape")
    val tile = j.int("tile")
    fun spec(name: String, shape: IntArray) = TensorSpec(name, shape, "float32")
    val motion = GraphSpec(
        "motion", "et/motion.pte",
        listOf(spec("img0", intArrayOf(1, 3, canvas[0], canvas[1])), spec("img1", intArrayOf(1, 3, canvas[0], canvas[1]))),
        listOf(spec("m0", intArrayOf(1, ms[0], ms[1], ms[2])), spec("m1", intArrayOf(1, ms[0], ms[1], ms[2]))),
        1234567L
    )
    val synth = GraphSpec(
        "synth", "et/synth.pte",
        listOf(
            spec("src0", intArrayOf(1, 3, tile, tile)), spec("src1", intArrayOf(1, 3, tile, tile)),
            spec("mot0", intArrayOf(1, ms[0], tile, tile)), spec("mot1", intArrayOf(1, ms[0], tile, tile)),
            spec("shift0", intArrayOf(1, 2)), spec("shift1", intArrayOf(1, 2)), spec("t", intArrayOf(1))
        ),
        listOf(spec("out", intArrayOf(1, 3, tile, tile))),
        7654321L
    )
    val manifest = BundleManifest(
        "golden-fake", "fp32", canvas[0], canvas[1], tile, j.int("halo"), j.int("overlap"), j.int("align"), 1,
        j.int("displacement_channels"), mapOf("et" to "scatter"), mapOf("et" to mapOf("motion" to motion, "synth" to synth)), mapOf()
    )
    manifest.checkShapes("et")
    val req = BenchRequest(
        "/data/local/tmp/edgevfi/bundle", "et", 50, 30, 2, 5, 1, 0,
        "am start -n dev.edgevfi.demo/.BenchActivity --es bundle /data/local/tmp/edgevfi/bundle --es backend et --es size 50x30 --ei threads 2 --ei runs 5"
    )
    val result = Bench.run(manifest, FakeMotion(j.floats("m0"), j.floats("m1"), null, null), FakeSynth(tile, ms[0]), 12.5, req, JvmHost(), null, "0".repeat(64))
    val text = JsonWriter.write(result)
    val back = JsonPath(JsonReader.parse(text), "bench sample")
    c.check(back.string("harness") == "android" && back.ints("size").contentEquals(intArrayOf(50, 30))) { "bench JSON does not read back" }
    c.check(back.int("tile_plan", "windows") == 6 && back.int("end_to_end", "synth_calls") == 6) { "bench JSON: wrong window count" }
    c.check(back.long("graphs", "synth", "macs") == 7654321L) { "bench JSON: synth macs" }
    writeJson(out, result)
}

/** Parse a real bundle's manifest with the phone's parser; write what it read, and a fake-graph bench on its shapes. */
fun checkManifest(c: Checker, path: String, summaryOut: String?, benchOut: String?) {
    val file = File(path)
    val m = BundleManifest.parse(file.readText(Charsets.UTF_8), path)
    val summary = LinkedHashMap<String, Any?>()
    summary["model"] = m.modelName
    summary["precision"] = m.precision
    summary["canvas"] = listOf(m.canvasH, m.canvasW)
    summary["tile"] = m.tile
    summary["halo"] = m.halo
    summary["overlap"] = m.overlap
    summary["align"] = m.align
    summary["max_batch"] = m.maxBatch
    summary["displacement_channels"] = m.displacementChannels
    summary["fine_canvases"] = m.fineCanvases.map { it.toList() }
    summary["motion_reach"] = m.motionReach
    summary["canvas_multiple"] = m.canvasMultiple
    summary["fine_canvas_upscale"] = m.canvasUpscale
    val fineNames = m.fineCanvases.map { CanvasChoice.graphName(it[0], it[1]) }
    val backends = LinkedHashMap<String, Any?>()
    for (b in m.backends.keys) {
        m.checkShapes(b, path)
        m.verifyFiles(file.parentFile ?: File("."), b)
        val graphs = LinkedHashMap<String, Any?>()
        for (g in listOf("motion") + fineNames + listOf("synth")) {
            val spec = m.graph(b, g)
            fun io(xs: List<TensorSpec>) = xs.map { linkedMapOf<String, Any?>("name" to it.name, "shape" to it.shape.toList(), "dtype" to it.dtype) }
            graphs[g] = linkedMapOf<String, Any?>(
                "file" to spec.file, "method" to spec.method, "macs" to spec.macs, "inputs" to io(spec.inputs), "outputs" to io(spec.outputs)
            )
        }
        backends[b] = linkedMapOf<String, Any?>("warp_impl" to m.warpImpl(b), "graphs" to graphs)
    }
    summary["backends"] = backends
    summary["files"] = m.files.size
    if (summaryOut != null) writeJson(summaryOut, summary)
    c.check(m.backends.isNotEmpty()) { "$path: no backends" }
    if (benchOut != null && m.backends.isNotEmpty()) {
        val b = if (m.backends.containsKey("et")) "et" else m.backends.keys.first()
        val shapes = RunnerShapes.of(m, b)
        val req = BenchRequest(file.parent ?: ".", if (b == "litert") "litert" else "et", 200, 120, 1, 2, 1, 1, "GoldenCheck --manifest $path")
        val frames = Bench.syntheticPair(120, 200)
        val fine = shapes.fine.associate { it.graphName to ZeroMotion(shapes.motionC * it.motionH * it.motionW) as GraphRunner }
        val result = Bench.run(
            m, ZeroMotion(shapes.motionC * shapes.motionH * shapes.motionW), EchoSynth(), 0.0, req, JvmHost(),
            FramePair(frames.img0, frames.img1, 120, 200), BundleManifest.sha256(file), fineMotion = fine
        )
        writeJson(benchOut, result)
    }
}

fun main(args: Array<String>) {
    if (args.isEmpty()) {
        System.err.println("usage: GoldenCheck GOLDENS_DIR [--bench-out FILE] [--manifest FILE [--manifest-out FILE] [--manifest-bench-out FILE]]")
        exitProcess(2)
    }
    val dir = File(args[0])
    val opts = HashMap<String, String>()
    var k = 1
    while (k < args.size) {
        if (!args[k].startsWith("--") || k + 1 >= args.size) {
            System.err.println("GoldenCheck: bad argument '${args[k]}'")
            exitProcess(2)
        }
        opts[args[k]] = args[k + 1]
        k += 2
    }
    val c = Checker()
    val sections = listOf<Pair<String, () -> Unit>>(
        "tile plans" to { checkTilePlans(c, dir) },
        "region ops" to { checkRegionOps(c, dir) },
        "runner" to { checkRunner(c, dir) },
        "canvas choice" to { checkCanvasChoice(c, dir) },
        "stats" to { checkStats(c, dir) },
        "sizes" to { checkSizes(c, dir) },
        "bench json" to { benchSample(c, dir, opts["--bench-out"] ?: File.createTempFile("bench", ".json").path) }
    )
    for ((name, fn) in sections) {
        val before = c.failures.size
        try {
            fn()
        } catch (e: Exception) {
            c.fail("$name: ${e.javaClass.simpleName}: ${e.message}")
        }
        println("$name: ${if (c.failures.size == before) "ok" else "${c.failures.size - before} failure(s)"}")
    }
    val manifest = opts["--manifest"]
    if (manifest != null) {
        try {
            checkManifest(c, manifest, opts["--manifest-out"], opts["--manifest-bench-out"])
            println("manifest: ok")
        } catch (e: Exception) {
            c.fail("manifest: ${e.javaClass.simpleName}: ${e.message}")
        }
    }
    for (f in c.failures.take(30)) println("FAIL $f")
    if (c.failures.size > 30) println("... and ${c.failures.size - 30} more")
    println("${c.checks} checks, ${c.failures.size} failures")
    exitProcess(if (c.failures.isEmpty()) 0 else 1)
}
