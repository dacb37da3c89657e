// Plain Java: no android.*, no LiteRT types. CI compiles it with javac and runs its JUnit tests
// without Gradle (tests/android_demo); here it is a module of the Android build.
plugins {
    `java-library`
}

java {
    sourceCompatibility = JavaVersion.VERSION_11
    targetCompatibility = JavaVersion.VERSION_11
}

dependencies {
    testImplementation(libs.junit)
}

tasks.test {
    useJUnit()
}
