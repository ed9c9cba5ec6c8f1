import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

val executorchVersion: String = providers.gradleProperty("executorchVersion").get()
val litertVersion: String = providers.gradleProperty("litertVersion").get()

android {
    namespace = "dev.edgevfi.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "dev.edgevfi.demo"
        minSdk = 24 // LiteRT 2.3.0's AARs declare minSdk 24
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        // The ABIs executorch-android ships (phones: arm64-v8a; emulators: x86_64).
        ndk { abiFilters += listOf("arm64-v8a", "x86_64") }
        // Recorded in the bench JSON's device.versions.
        buildConfigField("String", "EXECUTORCH_VERSION", "\"$executorchVersion\"")
        buildConfigField("String", "LITERT_VERSION", "\"$litertVersion\"")
    }

    buildFeatures { buildConfig = true }

    buildTypes {
        // Benchmarks run the debug APK (run-as can read its files dir); code is not minified
        // either way, and the native runtimes are release builds in both.
        release {
            isMinifyEnabled = false
            signingConfig = signingConfigs.getByName("debug")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    packaging {
        // Both runtimes bring the NDK's C++ runtime; one copy is enough.
        jniLibs { pickFirsts += setOf("**/libc++_shared.so", "**/libfbjni.so") }
    }
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

dependencies {
    // ExecuTorch's official AAR (Java/Kotlin Module/Tensor/EValue + XNNPACK), Maven Central.
    implementation("org.pytorch:executorch-android:$executorchVersion")
    // LiteRT (formerly TensorFlow Lite), Interpreter API in org.tensorflow.lite, Google Maven.
    implementation("com.google.ai.edge.litert:litert:$litertVersion")
}
