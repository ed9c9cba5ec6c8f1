package dev.edgevfi.demo.core

import java.io.File
import java.security.MessageDigest

/**
 * Every manifest.json key the phone reads, in one place (written by `export/bundle.py`
 * `write_bundle`). `tests/test_android_demo.py` reads these lists from this file and checks that a
 * real bundle has them, so a renamed key in the exporter fails on the host, not on a phone.
 */
object ManifestKeys {
    /** Top-level keys. */
    val TOP_LEVEL = listOf(
        "format", "version", "model", "precision", "canvas", "tile", "halo", "overlap", "align",
        "max_batch", "displacement_channels", "backends", "files"
    )

    /** Optional top-level keys (the motion-adaptive second pass; absent in older bundles: one canvas). */
    val FINE = listOf("fine_canvases", "motion_reach", "canvas_multiple")

    /** Optional: how far a fine canvas may exceed the frame (absent in older bundles: 1, never above). */
    const val CANVAS_UPSCALE = "fine_canvas_upscale"

    /** Keys under `model`. */
    val MODEL = listOf("name")

    /** Keys under `backends.<backend>`. */
    val BACKEND = listOf("warp_impl", "graphs")

    /** Graph names under `backends.<backend>.graphs`. */
    val GRAPHS = listOf("motion", "synth")

    /** Keys of one graph record. */
    val GRAPH = listOf("file", "inputs", "outputs", "macs")

    /** Optional key of a graph record: its method / signature in a file holding several graphs. */
    const val METHOD = "method"

    /** Keys of one input/output record. */
    val TENSOR = listOf("name", "shape", "dtype")

    /** Synth graph inputs, in the order the runner feeds them. */
    val SYNTH_INPUTS = listOf("src0", "src1", "mot0", "mot1", "shift0", "shift1", "t")

    /** Motion graph inputs and outputs, in order. */
    val MOTION_INPUTS = listOf("img0", "img1")
    val MOTION_OUTPUTS = listOf("m0", "m1")

    const val FORMAT = "edgevfi-bundle"
    const val VERSION = 1L
}

/** A bundle the phone cannot use, with a one-line reason. */
class ManifestError(message: String) : IllegalArgumentException(message)

/** One input or output of a graph. */
class TensorSpec(val name: String, val shape: IntArray, val dtype: String) {
    /** Number of elements. */
    val numel: Int
        get() {
            var n = 1
            for (d in shape) n *= d
            return n
        }
}

/**
 * One static graph of a backend. `method` names it inside `file` when the file holds several graphs
 * sharing their weights (the motion canvases: ExecuTorch methods, LiteRT signatures), else null.
 */
class GraphSpec(
    val name: String,
    val file: String,
    val inputs: List<TensorSpec>,
    val outputs: List<TensorSpec>,
    val macs: Long,
    val method: String? = null
)

/** The parts of a bundle manifest the phone harness needs, checked when parsed. */
class BundleManifest(
    val modelName: String,
    val precision: String,
    val canvasH: Int,
    val canvasW: Int,
    val tile: Int,
    val halo: Int,
    val overlap: Int,
    val align: Int,
    val maxBatch: Int,
    val displacementChannels: Int,
    val backends: Map<String, String>,
    private val graphs: Map<String, Map<String, GraphSpec>>,
    val files: Map<String, String>,
    /** Fine canvases [H, W], each with a `motion_<H>x<W>` graph per backend; empty in older bundles. */
    val fineCanvases: List<IntArray> = emptyList(),
    val motionReach: Double = 0.0,
    val canvasMultiple: Int = 32,
    val canvasUpscale: Double = 1.0
) {
    /** Backend `backend`'s graph `name` (`motion` or `synth`). */
    fun graph(backend: String, name: String): GraphSpec {
        val g = graphs[backend] ?: throw ManifestError(
            "bundle has no $backend artifacts (it has: ${graphs.keys.joinToString(", ").ifEmpty { "none" }})"
        )
        return g[name] ?: throw ManifestError("bundle's $backend backend has no $name graph")
    }

    /** The warp implementation recorded for `backend`. */
    fun warpImpl(backend: String): String = backends[backend] ?: ""

    /** The tile plan for a frame of `frameH` x `frameW` (the bundle's static tile, halo, overlap, align). */
    fun plan(frameH: Int, frameW: Int): TilePlan = TilePlan(frameH, frameW, tile, halo, overlap, align)

    companion object {
        /** Parse and check manifest text; [ManifestError] with a one-line reason otherwise. */
        fun parse(text: String, where: String = "manifest.json"): BundleManifest {
            val root = try {
                JsonReader.parse(text)
            } catch (e: JsonError) {
                throw ManifestError("$where: unreadable manifest (${e.message})")
            }
            val j = JsonPath(root, where)
            try {
                if (root !is Map<*, *> || root["format"] != ManifestKeys.FORMAT) {
                    throw ManifestError("$where: not an EdgeVFI bundle manifest")
                }
                for (k in ManifestKeys.TOP_LEVEL) j.at(k)
                if (j.long("version") != ManifestKeys.VERSION) {
                    throw ManifestError("$where: bundle version ${j.at("version")} is not supported (expected ${ManifestKeys.VERSION})")
                }
                val canvas = j.ints("canvas")
                if (canvas.size != 2) throw ManifestError("$where: 'canvas' must be [H, W]")
                val hasFine = root.containsKey(ManifestKeys.FINE[0])
                val fine = if (hasFine) {
                    for (k in ManifestKeys.FINE) j.at(k)
                    j.list(ManifestKeys.FINE[0]).indices.map { k ->
                        val c = j.ints(ManifestKeys.FINE[0], k)
                        if (c.size != 2) throw ManifestError("$where: 'fine_canvases' entries must be [H, W]")
                        c
                    }
                } else {
                    emptyList()
                }
                val upscale = if (root.containsKey(ManifestKeys.CANVAS_UPSCALE)) j.double(ManifestKeys.CANVAS_UPSCALE) else 1.0
                if (!(upscale >= 1.0)) throw ManifestError("$where: '${ManifestKeys.CANVAS_UPSCALE}' must be >= 1, got $upscale")
                val backendNames = LinkedHashMap<String, String>()
                val graphs = LinkedHashMap<String, Map<String, GraphSpec>>()
                for (b in j.map("backends").keys) {
                    val name = b.toString()
                    for (k in ManifestKeys.BACKEND) j.at("backends", name, k)
                    backendNames[name] = j.string("backends", name, "warp_impl")
                    val gs = LinkedHashMap<String, GraphSpec>()
                    for (g in ManifestKeys.GRAPHS) gs[g] = graphSpec(j, name, g)
                    for (c in fine) gs[CanvasChoice.graphName(c[0], c[1])] = graphSpec(j, name, CanvasChoice.graphName(c[0], c[1]))
                    graphs[name] = gs
                }
                val files = LinkedHashMap<String, String>()
                for ((k, v) in j.map("files")) files[k.toString()] = v.toString()
                val m = BundleManifest(
                    j.string("model", "name"),
                    j.string("precision"),
                    canvas[0],
                    canvas[1],
                    j.int("tile"),
                    j.int("halo"),
                    j.int("overlap"),
                    j.int("align"),
                    j.int("max_batch"),
                    j.int("displacement_channels"),
                    backendNames,
                    graphs,
                    files,
                    fine,
                    if (hasFine) j.double(ManifestKeys.FINE[1]) else 0.0,
                    if (hasFine) j.int(ManifestKeys.FINE[2]) else 32,
                    upscale
                )
                // Shapes are checked per backend when one is chosen (checkShapes): a bundle may carry
                // backends this harness never runs.
                return m
            } catch (e: JsonError) {
                throw ManifestError(e.message ?: "$where: malformed")
            }
        }

        private fun graphSpec(j: JsonPath, backend: String, g: String): GraphSpec {
            for (k in ManifestKeys.GRAPH) j.at("backends", backend, "graphs", g, k)
            fun tensors(kind: String): List<TensorSpec> {
                val n = j.list("backends", backend, "graphs", g, kind).size
                return (0 until n).map { k ->
                    for (key in ManifestKeys.TENSOR) j.at("backends", backend, "graphs", g, kind, k, key)
                    TensorSpec(
                        j.string("backends", backend, "graphs", g, kind, k, "name"),
                        j.ints("backends", backend, "graphs", g, kind, k, "shape"),
                        j.string("backends", backend, "graphs", g, kind, k, "dtype")
                    )
                }
            }
            return GraphSpec(
                g,
                j.string("backends", backend, "graphs", g, "file"),
                tensors("inputs"),
                tensors("outputs"),
                j.long("backends", backend, "graphs", g, "macs"),
                if (j.has("backends", backend, "graphs", g, ManifestKeys.METHOD)) {
                    j.string("backends", backend, "graphs", g, ManifestKeys.METHOD)
                } else {
                    null
                }
            )
        }

        /** Read `dir/manifest.json`. */
        fun load(dir: File): BundleManifest {
            val f = File(dir, "manifest.json")
            if (!dir.isDirectory) throw ManifestError("$dir: no such bundle folder")
            if (!f.isFile) throw ManifestError("$dir: not a bundle (no manifest.json)")
            return parse(f.readText(Charsets.UTF_8), f.path)
        }

        /** Hex SHA-256 of a file. */
        fun sha256(f: File): String {
            val md = MessageDigest.getInstance("SHA-256")
            f.inputStream().use { s ->
                val buf = ByteArray(1 shl 20)
                while (true) {
                    val n = s.read(buf)
                    if (n < 0) break
                    md.update(buf, 0, n)
                }
            }
            val sb = StringBuilder()
            for (b in md.digest()) sb.append(String.format("%02x", b))
            return sb.toString()
        }
    }

    /** The synth/motion I/O the runner relies on: names in order, batch 1, matching tiles and canvas. */
    fun checkShapes(backend: String, where: String = "manifest.json") {
        val motion = graph(backend, "motion")
        val synth = graph(backend, "synth")
        fun fail(msg: String): Nothing = throw ManifestError("$where: $backend: $msg")
        if (motion.inputs.map { it.name } != ManifestKeys.MOTION_INPUTS) fail("motion inputs must be img0, img1")
        if (motion.outputs.map { it.name } != ManifestKeys.MOTION_OUTPUTS) fail("motion outputs must be m0, m1")
        if (synth.inputs.map { it.name } != ManifestKeys.SYNTH_INPUTS) {
            fail("synth inputs must be ${ManifestKeys.SYNTH_INPUTS.joinToString(", ")}")
        }
        if (synth.outputs.size != 1) fail("synth must have one output")
        for (x in motion.inputs) {
            if (!x.shape.contentEquals(intArrayOf(1, 3, canvasH, canvasW))) fail("motion input ${x.name} is not [1, 3, $canvasH, $canvasW]")
        }
        val m0 = motion.outputs[0].shape
        if (m0.size != 4 || m0[0] != 1 || m0[1] < 2) fail("motion output m0 must be [1, C>=2, h, w]")
        if (!motion.outputs[1].shape.contentEquals(m0)) fail("motion outputs m0 and m1 differ in shape")
        val c = m0[1]
        // The runner feeds one window per call; that is what write_bundle exports (max_batch 1).
        if (maxBatch != 1) fail("max_batch $maxBatch is not supported by this harness (1 only)")
        val want = listOf(
            intArrayOf(1, 3, tile, tile), intArrayOf(1, 3, tile, tile),
            intArrayOf(1, c, tile, tile), intArrayOf(1, c, tile, tile),
            intArrayOf(1, 2), intArrayOf(1, 2), intArrayOf(1)
        )
        for ((k, x) in synth.inputs.withIndex()) {
            if (!x.shape.contentEquals(want[k])) {
                fail("synth input ${x.name} has shape ${x.shape.toList()}, expected ${want[k].toList()}")
            }
        }
        if (!synth.outputs[0].shape.contentEquals(intArrayOf(1, 3, tile, tile))) fail("synth output is not [1, 3, $tile, $tile]")
        for (f in fineCanvases) {
            val g = graph(backend, CanvasChoice.graphName(f[0], f[1]))
            for (x in g.inputs) {
                if (!x.shape.contentEquals(intArrayOf(1, 3, f[0], f[1]))) fail("${g.name} input ${x.name} is not [1, 3, ${f[0]}, ${f[1]}]")
            }
            if (g.outputs.size != 2 || g.outputs[0].shape.size != 4 || g.outputs[0].shape[1] != c) {
                fail("${g.name} outputs must be m0, m1 of [1, $c, h, w]")
            }
        }
        if (displacementChannels > c) fail("displacement_channels $displacementChannels exceeds motion channels $c")
    }

    /**
     * Check the sha256 of `backend`'s files (and only those) against the manifest, as the host's
     * `load_bundle` does, so a truncated `adb push` is refused before anything is timed.
     */
    fun verifyFiles(dir: File, backend: String) {
        for ((rel, digest) in files) {
            if (!rel.startsWith("$backend/")) continue
            val f = File(dir, rel)
            if (!f.isFile) throw ManifestError("$f: missing from the bundle")
            if (sha256(f) != digest) throw ManifestError("$f: sha256 does not match the manifest (tampered or truncated)")
        }
    }
}
