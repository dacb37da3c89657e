// Plain Java and Gson: no android.*, no LiteRT types. CI compiles it with javac and runs its JUnit
// tests without Gradle (tests/android_demo); here it is a module of the Android build.
plugins {
    `java-library`
}

java {
    sourceCompatibility = JavaVersion.VERSION_11
    targetCompatibility = JavaVersion.VERSION_11
}

dependencies {
    // api, not implementation: Manifest exposes Gson's JsonObject (the app reads it).
    api(libs.gson)  // com.google.code.gson:gson:2.10
    testImplementation(libs.junit)
}

tasks.test {
    useJUnit()
}
