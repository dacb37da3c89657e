plugins {
    alias(libs.plugins.android.application)
}

android {
    namespace = "org.lcnet.demo"
    compileSdk = 36

    defaultConfig {
        applicationId = "org.lcnet.demo"
        // LiteRT releases have crashed below API 26 (google-ai-edge/LiteRT issues 106, 3274).
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1"
        buildConfigField("String", "LITERT_VERSION", "\"${libs.versions.litert.get()}\"")
    }

    buildFeatures {
        buildConfig = true
    }

    buildTypes {
        release {
            isMinifyEnabled = false
            // Signed with the debug key so that `assembleRelease` installs without a keystore;
            // benchmark the release build (no debugger hooks in the Java loop).
            signingConfig = signingConfigs.getByName("debug")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_11
        targetCompatibility = JavaVersion.VERSION_11
    }

    // Models are memory-mapped from the APK: they must be stored uncompressed.
    androidResources {
        noCompress += "tflite"
    }
}

dependencies {
    implementation(project(":core"))
    implementation(libs.litert)
}
