// EdgeVFI phone harness: one app module. Needs the Android SDK and network access to Google Maven
// and Maven Central (see README.md); the plain-Kotlin core is also checked without either.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google() // com.google.ai.edge.litert
        mavenCentral() // org.pytorch:executorch-android, fbjni, soloader
    }
}

rootProject.name = "edgevfi-android-demo"
include(":app")
