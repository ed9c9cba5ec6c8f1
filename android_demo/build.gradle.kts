// Plugin versions for the whole build; the runtime library versions live in gradle.properties.
plugins {
    id("com.android.application") version "8.7.3" apply false
    id("org.jetbrains.kotlin.android") version "2.1.0" apply false
}
