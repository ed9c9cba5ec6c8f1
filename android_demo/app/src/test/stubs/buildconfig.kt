package dev.edgevfi.demo

// Gradle generates this class from app/build.gradle.kts (buildConfigField).
object BuildConfig {
    const val EXECUTORCH_VERSION = "stub"
    const val LITERT_VERSION = "stub"
    const val VERSION_NAME = "stub"
}
