package dev.edgevfi.demo

// The two runtimes behind the core's GraphRunner interface. Everything else (tiling, blending,
// timing, JSON) is plain Kotlin in dev.edgevfi.demo.core and is checked on the host.

import dev.edgevfi.demo.core.GraphRunner
import dev.edgevfi.demo.core.GraphSpec
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter

/** Loads graph files of one backend. */
object Runtimes {
    /** Load `file` (the manifest's `spec`) on `backend` with `threads` CPU threads, ready to run. */
    fun load(backend: String, file: File, spec: GraphSpec, threads: Int): GraphRunner =
        when (backend) {
            "et" -> EtGraphRunner(file, spec, threads)
            "litert" -> LiteRtGraphRunner(file, spec, threads)
            else -> throw IllegalArgumentException("backend must be et or litert, got '$backend'")
        }
}

/**
 * An ExecuTorch `.pte` (XNNPACK-delegated) through `org.pytorch.executorch.Module`.
 *
 * `Module.load(path, loadMode, numThreads)`, `loadMethod` and `execute(method, ...)` exist from executorch-android 1.0
 * (Java) through 1.4+ (Kotlin); `dataAsFloatArray` is the Kotlin property of the 1.4+ API and the
 * Kotlin view of `getDataAsFloatArray()` in the Java API, so this compiles against either.
 */
class EtGraphRunner(file: File, spec: GraphSpec, threads: Int) : GraphRunner {
    // mmap: weights are paged in from the pushed file instead of copied into the heap.
    private val module: Module = Module.load(file.path, Module.LOAD_MODE_MMAP, threads)
    private val shapes: List<LongArray> = spec.inputs.map { s -> LongArray(s.shape.size) { k -> s.shape[k].toLong() } }
    // A bundle's motion graphs share one program (one method per canvas, weights stored once).
    private val method: String = spec.method ?: "forward"

    init {
        // Counted in load time, not in the first timed call.
        module.loadMethod(method)
    }

    override fun run(inputs: Array<FloatArray>): Array<FloatArray> {
        val args = Array(inputs.size) { k -> EValue.from(Tensor.fromBlob(inputs[k], shapes[k])) }
        val out = module.execute(method, *args)
        return Array(out.size) { k -> out[k].toTensor().dataAsFloatArray }
    }

    override fun close() {
        module.destroy()
    }
}

/**
 * A LiteRT `.tflite` through the Interpreter API (CPU, XNNPACK by default): its one signature, or
 * the graph's own (`GraphSpec.method`) in a file holding several.
 *
 * litert_torch names the signature inputs `args_0, args_1, ...` in the order of the example inputs
 * (as `export/backends/litert.py` relies on), so inputs and outputs are sorted by that suffix.
 * INT8/UINT8 inputs and outputs (a quantized bundle) are (de)quantized with their own parameters.
 */
class LiteRtGraphRunner(file: File, spec: GraphSpec, threads: Int) : GraphRunner {
    private val interpreter = Interpreter(file, Interpreter.Options().setNumThreads(threads))
    // A bundle's motion graphs share one file (one signature per canvas, weights stored once).
    private val key: String = spec.method ?: interpreter.signatureKeys[0]
    private val inNames = bySuffix(interpreter.getSignatureInputs(key))
    private val outNames = bySuffix(interpreter.getSignatureOutputs(key))
    private val inTensors = inNames.map { interpreter.getInputTensorFromSignature(it, key) }
    private val outTensors = outNames.map { interpreter.getOutputTensorFromSignature(it, key) }
    private val inBufs = inTensors.map { ByteBuffer.allocateDirect(it.numBytes()).order(ByteOrder.nativeOrder()) }
    private val outBufs = outTensors.map { ByteBuffer.allocateDirect(it.numBytes()).order(ByteOrder.nativeOrder()) }
    private val outArrays = outTensors.map { FloatArray(it.numElements()) }

    init {
        if (inNames.size != spec.inputs.size) {
            throw IllegalArgumentException("${file.name}: ${inNames.size} signature inputs, manifest lists ${spec.inputs.size}")
        }
    }

    override fun run(inputs: Array<FloatArray>): Array<FloatArray> {
        val feed = HashMap<String, Any>()
        for (k in inputs.indices) {
            val buf = inBufs[k]
            buf.clear()
            val t = inTensors[k]
            when (t.dataType()) {
                DataType.FLOAT32 -> buf.asFloatBuffer().put(inputs[k])
                DataType.INT8, DataType.UINT8 -> {
                    val q = t.quantizationParams()
                    val lo = if (t.dataType() == DataType.INT8) -128 else 0
                    val hi = if (t.dataType() == DataType.INT8) 127 else 255
                    // np.round is half-to-even, as Math.rint.
                    for (x in inputs[k]) buf.put(Math.min(Math.max(Math.rint((x / q.scale).toDouble()).toInt() + q.zeroPoint, lo), hi).toByte())
                }
                else -> throw IllegalArgumentException("unsupported LiteRT input type ${t.dataType()}")
            }
            buf.rewind()
            feed[inNames[k]] = buf
        }
        val outs = HashMap<String, Any>()
        for (k in outBufs.indices) {
            outBufs[k].clear()
            outs[outNames[k]] = outBufs[k]
        }
        interpreter.runSignature(feed, outs, key)
        for (k in outBufs.indices) {
            val buf = outBufs[k]
            buf.rewind()
            val t = outTensors[k]
            val dst = outArrays[k]
            when (t.dataType()) {
                DataType.FLOAT32 -> buf.asFloatBuffer().get(dst)
                DataType.INT8, DataType.UINT8 -> {
                    val q = t.quantizationParams()
                    val unsigned = t.dataType() == DataType.UINT8
                    for (i in dst.indices) {
                        val b = buf.get().toInt()
                        dst[i] = ((if (unsigned) b and 0xff else b) - q.zeroPoint) * q.scale
                    }
                }
                else -> throw IllegalArgumentException("unsupported LiteRT output type ${t.dataType()}")
            }
        }
        return outArrays.toTypedArray()
    }

    override fun close() {
        interpreter.close()
    }

    private fun bySuffix(names: Array<String>): List<String> {
        val suffixes = names.map { it.substringAfterLast('_').toIntOrNull() }
        if (suffixes.any { it == null }) return names.toList()
        return names.sortedBy { it.substringAfterLast('_').toInt() }
    }
}
