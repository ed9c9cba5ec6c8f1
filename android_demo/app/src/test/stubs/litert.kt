package org.tensorflow.lite

import java.io.File

// Signatures of LiteRT's Java Interpreter API (org.tensorflow.lite, tflite/java).
enum class DataType { FLOAT32, INT32, UINT8, INT64, STRING, BOOL, INT16, INT8, FLOAT16 }

interface Tensor {
    class QuantizationParams(val scale: Float, val zeroPoint: Int)

    fun dataType(): DataType
    fun numBytes(): Int
    fun numElements(): Int
    fun quantizationParams(): QuantizationParams
}

class Interpreter(modelFile: File, options: Options?) : AutoCloseable {
    class Options {
        fun setNumThreads(numThreads: Int): Options = this
    }

    val signatureKeys: Array<String> = arrayOf()
    fun getSignatureInputs(signatureKey: String): Array<String> = arrayOf()
    fun getSignatureOutputs(signatureKey: String): Array<String> = arrayOf()
    fun getInputTensorFromSignature(inputName: String, signatureKey: String): Tensor = throw UnsupportedOperationException()
    fun getOutputTensorFromSignature(outputName: String, signatureKey: String): Tensor = throw UnsupportedOperationException()
    fun runSignature(inputs: Map<String, Any>, outputs: Map<String, Any>, signatureKey: String) {}
    override fun close() {}
}
