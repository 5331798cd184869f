import ArgumentParser
import Foundation
import Recording

/// `blackbox recordings`: list and verify recordings.
struct Recordings: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List or verify recordings.",
        subcommands: [List.self, Verify.self]
    )

    /// `blackbox recordings list`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List recordings, newest first, with size and kind.")

        @Option(name: .customLong("recordings"), help: ArgumentHelp("Recordings folder.", valueName: "dir"))
        var root = "recordings"

        @Option(help: "Only this camera.")
        var camera: String?

        func run() throws {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
                throw StartupError("no recordings folder at '\(root)'; give --recordings DIR")
            }
            let files = RecordingsTree.files(under: root).filter { ($0.isVideo || $0.isPartial) && (camera == nil || $0.camera == camera) }
                .sorted { ($0.modified, $0.relative) > ($1.modified, $1.relative) }
            for f in files {
                let flags = [f.isEvent ? "event" : "segment", RecordingsTree.isProtected(f.path) ? "protected" : nil, f.isPartial ? "writing" : nil]
                    .compactMap { $0 }.joined(separator: ",")
                print(String(format: "%10.1f MB  %@  %@", Double(f.size) / 1_048_576, flags.padding(toLength: 18, withPad: " ", startingAt: 0), f.relative))
            }
            print("\(files.count) recordings, \(String(format: "%.1f", Double(files.reduce(0) { $0 + $1.size }) / 1_048_576)) MB")
        }
    }

    /// `blackbox recordings verify`.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every fragment of recordings: structure, each frame's JPEG markers, timestamps and gaps.",
            discussion: """
                Exits 1 when any file is damaged. A segment being written (a .part changed in the last \(Int(Verify.writingSeconds)) s)                 is checked up to its last whole fragment and reported as WRITING; an older .part was cut by a crash or power loss                 (UNFINISHED: the daemon repairs it at its next start). Neither counts as damaged.
                """
        )

        /// A `.part` changed this recently is being written now.
        static let writingSeconds = 10.0

        @Option(name: .customLong("recordings"), help: ArgumentHelp("Recordings folder, checked when no paths are given.", valueName: "dir"))
        var root = "recordings"

        @Argument(help: "Files or folders to check (default: the recordings folder).")
        var paths: [String] = []

        func run() throws {
            var files: [String] = []
            for path in paths.isEmpty ? [root] : paths {
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                    throw StartupError("no such file or folder: '\(path)'")
                }
                if isDir.boolValue {
                    files += RecordingsTree.files(under: path).filter { $0.isVideo || $0.isPartial }.map(\.path).sorted()
                } else {
                    files.append(path)
                }
            }
            var damaged = 0
            for file in files {
                let r = Verifier.verify(path: file)
                let fps = r.duration > 0 ? Double(r.frames) / r.duration : 0
                let gaps = r.gaps.map { String(format: "%.2f s at %.2f s", $0.seconds, $0.at) }
                let label: String
                if file.hasSuffix(".part") {
                    let age = (try? FileManager.default.attributesOfItem(atPath: file)[.modificationDate] as? Date).map { -$0.timeIntervalSinceNow } ?? .infinity
                    label = age < Self.writingSeconds ? "WRITING" : "UNFINISHED"
                } else {
                    label = r.isSound ? "OK" : "DAMAGED"
                }
                print("\(label.padding(toLength: 10, withPad: " ", startingAt: 0)) \(file): \(r.frames) frames, \(String(format: "%.2f", r.duration)) s, "
                      + "\(String(format: "%.1f", fps)) fps, \(r.fragments) fragments, \(r.gaps.count) gaps"
                      + (gaps.isEmpty ? "" : " (\(gaps.joined(separator: ", ")))"))
                for problem in r.problems { print("           \(problem)") }
                if label == "DAMAGED" { damaged += 1 }
            }
            if files.isEmpty {
                print("no recordings under \(paths.isEmpty ? root : paths.joined(separator: ", "))")
                return
            }
            print("\(files.count) files checked, \(damaged) damaged")
            if damaged > 0 { throw ExitCode(1) }
        }
    }
}
