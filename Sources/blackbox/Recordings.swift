import ArgumentParser
import ConfigFile
import Evidence
import Foundation
import Frames
import Platform
import Recording
import Telemetry

/// `blackbox recordings`: list and verify recordings.
struct Recordings: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, verify or export recordings.",
        subcommands: [List.self, Verify.self, Export.self]
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

        @Flag(help: "Check the signatures and hash chain instead: every sample against what was signed, the order of fragments and files.")
        var signatures = false

        @Option(help: ArgumentHelp("Public key the recordings must be signed by: a PEM file, or the key as base64 or hex (default: this recorder's device key).",
                                   valueName: "pubkey"))
        var key: String?

        func run() throws {
            if signatures { return try verifySignatures(try files()) }
            try verifyStructure(try files())
        }

        private func files() throws -> [String] {
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
            return files
        }

        private func verifyStructure(_ files: [String]) throws {
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

extension Recordings.Verify {
    /// The key files must be signed by: `--key`, else this recorder's device key when it is here.
    private func expectedKey() throws -> (SigningPublicKey?, String) {
        if let key {
            let text = FileManager.default.fileExists(atPath: key) ? (try? String(contentsOfFile: key, encoding: .utf8)) ?? "" : key
            do {
                let parsed = try SigningPublicKey(text: text)
                return (parsed, "the key given (\(parsed.fingerprint))")
            } catch {
                throw ValidationError("--key '\(key)': \(error)")
            }
        }
        if let device = try? DeviceKeyFile.load(path: DeviceKeyFile.defaultPath(recordings: root)) {
            return (device.publicKey, "this recorder's device key (\(device.publicKey.fingerprint))")
        }
        return (nil, "no key (none given with --key, no device key in \(root)): each file must be signed by one key; compare its fingerprint yourself")
    }

    /// `--signatures`: a line per file with its verdict and what was found, then the chains across files.
    func verifySignatures(_ files: [String]) throws {
        let (expected, against) = try expectedKey()
        print("checking against \(against)")
        let started = Date()
        var reports: [SignatureReport] = []
        var bad = 0
        for file in files {
            let r = SignatureVerifier.verify(path: file, expected: expected)
            reports.append(r)
            let label = r.verdict.rawValue.uppercased()
            print("\(label.padding(toLength: 10, withPad: " ", startingAt: 0)) \(file): \(r.signedFragments) of \(r.fragments) fragments signed"
                  + (r.signer.map { " by \($0)" } ?? "") + (r.chainID.map { ", chain '\($0)'" } ?? "")
                  + (r.firstLink.map { " from index \($0.index)" } ?? ""))
            for finding in r.findings { print("           \(finding)") }
            if r.verdict < .cut { bad += 1 }
        }
        let chainFindings = SignatureVerifier.checkChains(reports)
        for finding in chainFindings { print("CHAIN      \(finding)") }
        let seconds = max(Date().timeIntervalSince(started), 0.001)
        let bytes = reports.reduce(0) { $0 + $1.bytesHashed }
        print("\(files.count) files checked, \(bad) not intact, \(chainFindings.count) chain problems; "
              + String(format: "%.1f MB hashed in %.2f s (%.2f GB/min)", Double(bytes) / 1e6, seconds, Double(bytes) / 1e9 / seconds * 60))
        if bad > 0 || !chainFindings.isEmpty { throw ExitCode(1) }
    }
}

extension Recordings {
    /// `blackbox recordings export`.
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write one MP4 of a camera's recordings between two times, without re-encoding.",
            discussion: "Whole fragments are copied (they start at keyframes) with their signatures, so the export verifies on its own "
                + "(`blackbox recordings verify --signatures FILE`). Gaps in the span are left out and reported."
        )

        @Option(name: .customLong("recordings"), help: ArgumentHelp("Recordings folder.", valueName: "dir"))
        var root = "recordings"

        @Option(help: "Camera id.")
        var camera: String

        @Option(help: ArgumentHelp("Start, RFC 3339 (2026-11-25T14:03:30+01:00 or ...Z).", valueName: "time"))
        var start: String

        @Option(help: ArgumentHelp("End, RFC 3339.", valueName: "time"))
        var end: String

        @Flag(help: "Export from the camera's event clips instead of its segments.")
        var events = false

        @Option(name: .shortAndLong, help: ArgumentHelp("File to write (default: CAMERA_START_END.mp4 here, .gpx with --gpx).", valueName: "file"))
        var output: String?

        @Flag(help: "Write the span's GPS track as GPX 1.1 instead of the video.")
        var gpx = false

        static func parseTime(_ text: String, _ flag: String) throws -> Int64 {
            guard let t = WallTime.parse(text) else { throw ValidationError("--\(flag) '\(text)' is not a time; allowed: \(WallTime.allowed)") }
            return t
        }

        func run() throws {
            let from = try Self.parseTime(start, "start"), to = try Self.parseTime(end, "end")
            guard to > from else { throw ValidationError("--end must be after --start") }
            guard to - from <= 24 * 3_600_000_000_000 else { throw ValidationError("the span is longer than 24 hours; allowed: up to 24 hours per export") }
            // The segment being written is exported up to its last whole fragment.
            let files = RecordingIndex(root: root).recordings(camera: camera, kind: events ? .event : .segment, from: from, to: to)
                .map { "\(root)/\($0.path)" + ($0.writing ? ".part" : "") }
            let stem = "\(camera)_\(LocalTime.stamp(Int(from / 1_000_000_000)).stamp)_\(LocalTime.stamp(Int(to / 1_000_000_000)).stamp)"
            if gpx {
                let points = RecordedTrack.points(files: files, from: from, to: to)
                guard !points.isEmpty else { throw StartupError("\(camera): no GPS track from \(start) to \(end)") }
                let name = output ?? stem + ".gpx"
                do {
                    try Data(TrackDocument.gpx(points, name: stem).utf8).write(to: URL(fileURLWithPath: name), options: .atomic)
                } catch {
                    throw StartupError("cannot write \(name): \(error.localizedDescription)")
                }
                print("blackbox: wrote \(name): \(points.count) points, \(points.filter(\.fix.hasPosition).count) with a fix")
                return
            }
            let name = output ?? stem + ".mp4"
            let report: ExportReport
            do {
                report = try RecordingExport.export(files: files, from: from, to: to, output: name)
            } catch {
                throw StartupError("\(camera): \(error)")
            }
            print("blackbox: wrote \(report.output): \(report.frames) frames, \(String(format: "%.1f", report.seconds)) s from \(report.sources.count) files, "
                  + "\(LocalTime.iso8601(Int(report.startNanos / 1_000_000_000))) to \(LocalTime.iso8601(Int(report.endNanos / 1_000_000_000)))")
            for gap in report.gaps {
                print("blackbox: no recording for \(String(format: "%.1f", gap.seconds)) s from \(LocalTime.iso8601(Int(gap.startNanos / 1_000_000_000)))")
            }
            for note in report.notes { print("blackbox: \(note)") }
        }
    }
}
