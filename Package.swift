// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "pgvault",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "pgvault", targets: ["pgvault"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ", pkgConfig: "libpq",
                       providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CLibArchive", path: "Sources/CLibArchive", pkgConfig: "libarchive",
                       providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),

        .target(name: "CSystemShims"),

        .target(name: "VaultCore", swiftSettings: strict),
        .target(name: "VaultStorage", dependencies: ["VaultCore", "CSystemShims"], swiftSettings: strict),
        .target(name: "VaultFormat", dependencies: [
            "VaultCore", "VaultStorage", "CZstd", "CSystemShims",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        .target(name: "VaultPostgres", dependencies: [
            "VaultCore", "CLibPQ",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        .target(name: "VaultArchive", dependencies: [
            "VaultCore", "VaultFormat", "CLibArchive", "VaultS3", "CSystemShims",
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: strict),
        .target(name: "VaultEngine", dependencies: [
            "VaultCore", "VaultStorage", "VaultFormat", "VaultPostgres", "VaultArchive",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        .target(name: "VaultCommands", dependencies: [
            "VaultCore", "VaultStorage", "VaultFormat", "VaultPostgres", "VaultArchive", "VaultEngine",
            "VaultPolicy", "VaultService", "VaultS3",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        // --- S3 driver (issue 6) ---
        .target(name: "VaultS3", dependencies: [
            "VaultCore", "VaultStorage",
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: strict),
        // --- Policy, schedules and GFS retention (issue 5) ---
        .target(name: "VaultPolicy", dependencies: [
            "VaultCore",
            .product(name: "Yams", package: "Yams"),
        ], swiftSettings: strict),
        // --- The vault service: scheduler loop, HTTP API, metrics (issue 5) ---
        .target(name: "VaultService", dependencies: [
            "VaultCore", "VaultStorage", "VaultFormat", "VaultEngine", "VaultPolicy", "VaultPostgres", "VaultArchive",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        .executableTarget(name: "pgvault", dependencies: ["VaultCommands", "CSystemShims"], swiftSettings: strict),

        .target(name: "VaultTestSupport", dependencies: ["VaultCore", "VaultStorage"],
                path: "Tests/VaultTestSupport", swiftSettings: strict),
        .testTarget(name: "VaultCoreTests", dependencies: ["VaultCore", "VaultTestSupport"], swiftSettings: strict),
        .testTarget(name: "VaultStorageTests", dependencies: ["VaultStorage", "VaultTestSupport", "VaultS3"], swiftSettings: strict),
        .testTarget(name: "VaultFormatTests", dependencies: [
            "VaultFormat", "VaultStorage", "VaultTestSupport", "CSystemShims",
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: strict),
        .testTarget(name: "VaultS3Tests", dependencies: [
            "VaultS3", "VaultCore", "VaultStorage", "VaultTestSupport",
        ], swiftSettings: strict),
        .testTarget(name: "VaultPostgresTests", dependencies: ["VaultPostgres", "VaultTestSupport"], swiftSettings: strict),
        .testTarget(name: "VaultArchiveTests", dependencies: ["VaultArchive", "VaultFormat", "VaultTestSupport"], swiftSettings: strict),
        .testTarget(name: "VaultPolicyTests", dependencies: ["VaultPolicy", "VaultCore"], swiftSettings: strict),
        .testTarget(name: "EndToEndTests", dependencies: [
            "VaultTestSupport", "VaultCore", "VaultFormat", "VaultStorage", "VaultEngine", "pgvault", "VaultS3",
        ], swiftSettings: strict),
    ]
)
