public enum PGVaultCommand { public static func entry() {} }
