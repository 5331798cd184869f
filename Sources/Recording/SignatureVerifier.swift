import Evidence
import Frames
import Platform
#if canImport(Glibc)
import Glibc
#endif

/// What signature verification found in one file.
public struct SignatureReport: Sendable {
    /// The file.
    public var path: String
    /// The conclusion.
    public var verdict: SignatureVerdict
    /// Each finding, naming the fragment (1-based, in file order) it concerns.
    public var findings: [String] = []
    /// Complete fragments in the file.
    public var fragments = 0
    /// Fragments with a valid link and signature.
    public var signedFragments = 0
    /// Chain the file belongs to (from its first signed fragment).
    public var chainID: String?
    /// First and last chain link in the file.
    public var firstLink: ChainLink?
    /// Last chain link in the file.
    public var lastLink: ChainLink?
    /// Fingerprint of the key that signed it.
    public var signer: String?
    /// Bytes of sample data hashed (0 in a quick check).
    public var bytesHashed = 0
}

/// Checks the hash chain and signatures of recordings: per file, and across the files of one chain.
public enum SignatureVerifier {
    /// Most a file's stated start may differ from its signed start before it counts as re-timed.
    static let retimeToleranceSeconds = 2

    /// Verifies the file at `path` against `expected` (any key when nil). `readSamples` re-hashes every
    /// sample (a full check); without it only links, signatures and order are checked (cheap: for lists).
    public static func verify(path: String, expected: SigningPublicKey?, readSamples: Bool = true) -> SignatureReport {
        do {
            return verify(scan: try MP4Reader.scan(path: path), path: path, expected: expected, readSamples: readSamples)
        } catch {
            return SignatureReport(path: path, verdict: .changed, findings: [error.description])
        }
    }

    /// As `verify(path:…)`, with the file's structure already read (the recordings list reads it once for both).
    public static func verify(scan: MP4Scan, path: String, expected: SigningPublicKey?, readSamples: Bool = true) -> SignatureReport {
        var report = SignatureReport(path: path, verdict: .intact)
        // Samples are read only in a full check.
        let fd = readSamples ? open(path, O_RDONLY | O_CLOEXEC) : -1
        defer { if fd >= 0 { close(fd) } }
        report.fragments = scan.fragments.count
        var verdict = SignatureVerdict.intact
        func found(_ v: SignatureVerdict, _ text: String) {
            verdict = min(verdict, v)
            report.findings.append(text)
        }
        guard scan.fragments.contains(where: { $0.link != nil }) else {
            report.verdict = .unsigned
            report.findings.append(scan.fragments.isEmpty ? "no complete fragment" : "not signed: none of its \(scan.fragments.count) fragments carries a signature")
            return report
        }
        var previous: ChainLink?
        for (i, fragment) in scan.fragments.enumerated() {
            let n = i + 1
            guard let link = fragment.link else {
                if i == scan.fragments.count - 1 {
                    found(.cut, "fragment \(n) (the last) is unsigned: cut by a power loss before its signature was written")
                } else {
                    found(.changed, "fragment \(n) is not signed (its signature was removed)")
                }
                continue
            }
            guard link.chainMatchesFields else {
                found(.changed, "fragment \(n): its chain link was altered (the chain value is not the hash of its fields)")
                continue
            }
            guard link.signatureIsValid else {
                found(.changed, "fragment \(n): the signature does not match its chain link")
                continue
            }
            // Without an expected key, one file is still signed by one key: its first fragment's.
            if let wanted = expected ?? report.firstLink?.publicKey, link.publicKey != wanted {
                found(.otherKey, "fragment \(n) is signed by another key (\(link.publicKey.fingerprint), expected \(wanted.fingerprint))")
            }
            report.signedFragments += 1
            if report.firstLink == nil { report.firstLink = link; report.chainID = link.chainID; report.signer = link.publicKey.fingerprint }
            if let trim = fragment.trim {
                // An export may cut the start of its first fragment and the end of its last, nothing else.
                let before = trim.firstKept, after = trim.removedRows.count - trim.firstKept
                if (before > 0 && i != 0) || (after > 0 && i != scan.fragments.count - 1) {
                    found(.changed, "fragment \(n): frames were cut from inside the recording (only an export's first and last fragment may be cut)")
                } else {
                    report.findings.append("fragment \(n): cut by an export to frames \(before + 1)–\(before + fragment.sizes.count) of its \(trim.originalCount)")
                }
            }
            if readSamples, fd >= 0 {
                // Every track's samples: the picture's, then the sound's.
                let signed = fragment.signedSamples
                let payload = signed.sizes.reduce(0, +)
                if let bytes = MP4Reader.read(fd, at: fragment.dataOffset, count: payload) {
                    let (rows, hashes) = bytes.withUnsafeBytes {
                        FragmentDigest.samples(durations: signed.durations, sizes: signed.sizes, keyframes: signed.keyframes, bytes: $0)
                    }
                    // A cut fragment is checked as signed: its kept samples with the rows and hashes of those left out.
                    let digest = fragment.trim.map { $0.signedDigest(keptRows: rows, keptHashes: hashes) ?? FragmentDigest(rows: [], sampleHashes: []) }
                        ?? FragmentDigest(rows: rows, sampleHashes: hashes)
                    report.bytesHashed += payload
                    if digest.sampleCount != link.sampleCount {
                        found(.changed, "fragment \(n): \(digest.sampleCount) samples, \(link.sampleCount) were signed")
                    } else if digest.table != link.tableDigest {
                        found(.changed, "fragment \(n): sample timing, sizes or key flags changed since signing")
                    }
                    if digest.data != link.dataDigest {
                        found(.changed, "fragment \(n): sample data changed since signing")
                    }
                } else {
                    found(.changed, "fragment \(n): its samples cannot be read")
                }
            }
            if let previous {
                if link.chainID != previous.chainID {
                    found(.broken, "fragment \(n) belongs to chain '\(link.chainID)', the one before to '\(previous.chainID)' (spliced)")
                } else if link.index == previous.index + 1 && link.previous == previous.chain {
                    // In order.
                } else if link.index > previous.index + 1 {
                    found(.broken, "\(link.index - previous.index - 1) fragments missing before fragment \(n) (chain index \(previous.index) then \(link.index))")
                } else if link.index <= previous.index {
                    found(.broken, "fragment \(n) is out of order (chain index \(link.index) after \(previous.index))")
                } else {
                    found(.broken, "fragment \(n) does not follow the fragment before it (its link names another predecessor)")
                }
            } else if link.chainID.contains("/event/"), link.index > 0 {
                // An event clip is a chain of its own, starting at index 0.
                found(.broken, "\(link.index) fragments missing at the start of the clip (its first fragment has chain index \(link.index))")
            }
            previous = link
        }
        report.lastLink = previous
        if let first = report.firstLink, let stated = scan.creationTime {
            let cut = scan.fragments.first { $0.link != nil }?.trim?.keptStartOffsetNanos ?? 0
            let signed = Int((first.wallStartNanos + cut) / 1_000_000_000)
            if abs(stated - signed) > retimeToleranceSeconds {
                found(.retimed, "re-timed: the file says it starts at \(LocalTime.iso8601(stated, millis: 0)), its signed start is \(LocalTime.iso8601(signed, millis: 0))")
            }
        }
        if scan.validEnd < scan.fileSize {
            found(.cut, "\(scan.fileSize - scan.validEnd) bytes after the last whole fragment: cut by a power loss (unsigned, not counted)")
        }
        report.verdict = verdict
        return report
    }

    /// Findings across files of the same chain, in chain order: a file missing in the middle, overlaps.
    /// A gap before the oldest file is expected (loop overwrite deletes the oldest first).
    public static func checkChains(_ reports: [SignatureReport]) -> [String] {
        var findings: [String] = []
        let byChain = Dictionary(grouping: reports.filter { $0.firstLink != nil }, by: { $0.chainID ?? "" })
        for (chain, files) in byChain.sorted(by: { $0.key < $1.key }) {
            let ordered = files.sorted { $0.firstLink!.index < $1.firstLink!.index }
            for (a, b) in zip(ordered, ordered.dropFirst()) {
                guard let last = a.lastLink, let first = b.firstLink else { continue }
                if first.index == last.index + 1 {
                    if first.previous != last.chain {
                        findings.append("chain '\(chain)': \(b.path) does not follow \(a.path) (its first link names another predecessor)")
                    }
                } else if first.index > last.index + 1 {
                    findings.append("chain '\(chain)': \(first.index - last.index - 1) fragments missing between \(a.path) and \(b.path) (a recording deleted from the middle)")
                } else {
                    findings.append("chain '\(chain)': \(b.path) overlaps \(a.path) (chain index \(first.index) to \(b.lastLink?.index ?? first.index) again)")
                }
            }
        }
        return findings
    }
}
