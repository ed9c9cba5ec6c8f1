package org.pytorch.executorch

// Signatures of executorch-android (Module.kt / EValue.kt / Tensor.kt at v1.4.1; Module.java etc. at v1.0).
class Module private constructor() {
    fun forward(vararg inputs: EValue): Array<EValue> = arrayOf()
    fun execute(methodName: String, vararg inputs: EValue): Array<EValue> = arrayOf()
    fun loadMethod(methodName: String) {}
    fun destroy() {}

    companion object {
        const val LOAD_MODE_FILE = 0
        const val LOAD_MODE_MMAP = 1
        fun load(modelPath: String?, loadMode: Int = LOAD_MODE_FILE, numThreads: Int = 0): Module = Module()
    }
}

class EValue private constructor() {
    fun toTensor(): Tensor = Tensor.fromBlob(FloatArray(0), LongArray(0))

    companion object {
        fun from(tensor: Tensor): EValue = EValue()
    }
}

abstract class Tensor {
    open val dataAsFloatArray: FloatArray
        get() = FloatArray(0)

    companion object {
        fun fromBlob(data: FloatArray, shape: LongArray): Tensor = object : Tensor() {}
    }
}
