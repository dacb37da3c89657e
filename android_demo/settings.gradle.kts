// The Android benchmark app: `:app` (LiteRT, one Activity) over `:core` (plain Java, all logic,
// compiled and unit-tested on every CI run by tests/android_demo without Gradle).
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
        google()
        mavenCentral()
    }
}

rootProject.name = "lcnet-android-demo"
include(":app", ":core")
