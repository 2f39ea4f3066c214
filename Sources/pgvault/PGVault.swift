import VaultCommands

@main
struct Main {
    static func main() {
        PGVaultCommand.entry()
    }
}
