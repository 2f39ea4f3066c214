import Foundation
import Testing
import VaultTestSupport

/// `--help` is documentation: the argument parser wraps every line at 80 columns (when not a
/// terminal), so a text broken by hand at 95 came out in ragged fragments ("unless" alone on
/// a line). Every help text must read as written.
@Suite("Help texts")
struct HelpTests {
    static let commands: [[String]] = [[], ["init"], ["check"], ["backup"], ["points"], ["points", "tag"], ["show"], ["restore"],
                                       ["jobs"], ["vault"], ["vault", "set"], ["vault", "reindex"], ["delete"], ["undelete"],
                                       ["retain"], ["hold"], ["purge"], ["audit"], ["policy"], ["run"], ["serve"], ["copy"], ["verify"]]

    @Test func everyHelpTextKeepsItsParagraphsWhole() throws {
        let binary = try TestEnvironment.pgvaultBinary()
        for command in Self.commands {
            let r = try Shell.run(binary, command + ["--help"], removing: ["COLUMNS"])
            #expect(r.status == 0, "pgvault \(command.joined(separator: " ")) --help exited \(r.status)")
            let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            #expect(lines.count > 5)
            for (i, line) in lines.enumerated() where !line.hasPrefix("USAGE:") {
                #expect(line.count <= 80, "pgvault \(command.joined(separator: " ")) --help: a line of \(line.count) columns: \(line)")
                // Inside a paragraph (text lines, not indented), every line but the last is
                // filled: a short one followed by more text is a fragment of a broken line.
                let next = i + 1 < lines.count ? lines[i + 1] : ""
                if !line.isEmpty, line.first != " ", !next.isEmpty, next.first != " ", !line.hasSuffix(":") {
                    #expect(line.count >= 45, "pgvault \(command.joined(separator: " ")) --help: a fragment: \"\(line)\" then \"\(next)\"")
                }
            }
        }
    }
}
