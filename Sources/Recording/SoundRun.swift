import Encoding

/// The sound units gathered for one fragment, placed on the sound track's sample clock from their capture times.
/// Units follow each other without gaps while the sound keeps time; a unit more than one unit late starts after a gap
/// (the sound stopped: the unit before it lasts until then, or the next run starts later), one more than a unit early
/// is dropped, so the sound never drifts from the picture by more than a unit (21 ms at 48 kHz). The recordings and
/// the live stream place sound by this one rule.
struct SoundRun {
    /// The track's format (its rate is the clock).
    let format: AudioFormat
    /// Capture time (monotonic ns) of track time zero: the first picture's.
    let startNanos: UInt64
    /// The units gathered, each with its duration in samples.
    private(set) var units: [(bytes: [UInt8], duration: UInt32)] = []
    /// Track time of the first gathered unit.
    private var base: UInt64 = 0
    /// Track time just past the last unit placed (nil before the first).
    private var end: UInt64?

    /// A run for a track whose time zero is `startNanos`.
    init(format: AudioFormat, startNanos: UInt64) {
        self.format = format
        self.startNanos = startNanos
    }

    /// Places `unit`; false when it is dropped (before time zero: it belongs to what came before; or early).
    mutating func append(_ unit: EncodedAudio) -> Bool {
        guard unit.monotonicNanos >= startNanos else { return false }
        let per = UInt64(AudioFormat.samplesPerUnit)
        let at = (unit.monotonicNanos - startNanos) * UInt64(format.sampleRate) / 1_000_000_000
        var position = end ?? at
        if at > position + per {
            if let last = units.indices.last { units[last].duration += UInt32(clamping: at - position) } else { base = at }
            position = at
        } else if at + per < position {
            return false
        }
        if units.isEmpty { base = position }
        units.append((unit.bytes, UInt32(per)))
        end = position + per
        return true
    }

    /// The gathered units as a track run of a fragment header.
    var trackRun: FragmentedMP4.TrackRun {
        FragmentedMP4.TrackRun(trackID: FragmentedMP4.soundTrackID, baseTime: base, durations: units.map(\.duration),
                               sizes: units.map(\.bytes.count))
    }

    /// Forgets the gathered units once they are written (the clock goes on).
    mutating func clear() {
        units.removeAll(keepingCapacity: true)
    }
}
