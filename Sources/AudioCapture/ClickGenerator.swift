import Encoding
import Frames

#if canImport(Glibc)
import Glibc
#endif

/// The test click (`audio = "test:click"`): silence with a 10 ms 2 kHz burst starting on the sample of the test
/// pattern's white flash (without a flash, at each whole second of the monotonic clock), in blocks of one AAC unit.
/// A block is made once its last sample's time has passed, as a microphone gives a period once it is captured.
struct ClickGenerator {
    let format: AudioFormat
    let flash: SyncFlash?
    private let start: UInt64
    private var samplesDone: UInt64 = 0
    private var clickedAt: UInt64 = 0
    private var burstLeft = 0
    private var phase = 0

    /// A generator whose first sample is at `start` (monotonic nanoseconds).
    init(format: AudioFormat, flash: SyncFlash?, start: UInt64) {
        self.format = format
        self.flash = flash
        self.start = start
    }

    private func time(ofSample n: UInt64) -> UInt64 { start + n * 1_000_000_000 / UInt64(format.sampleRate) }

    /// When the next block may be made: its end, plus 20 ms for the flash's frame to have been noted.
    var due: UInt64 { time(ofSample: samplesDone + UInt64(AudioFormat.samplesPerUnit)) + 20_000_000 }

    /// The next block and the capture time of its first sample.
    mutating func make() -> (samples: [Int16], startNanos: UInt64) {
        let count = AudioFormat.samplesPerUnit
        let blockStart = time(ofSample: samplesDone), blockEnd = time(ofSample: samplesDone + UInt64(count))
        var clickAt: UInt64
        if let flash { clickAt = flash.last.load(ordering: .acquiring) } else {
            clickAt = (blockEnd / 1_000_000_000) * 1_000_000_000
        }
        var offset = count
        if clickAt != clickedAt, clickAt >= blockStart, clickAt < blockEnd {
            clickedAt = clickAt
            offset = Int((clickAt - blockStart) * UInt64(format.sampleRate) / 1_000_000_000)
            burstLeft = format.sampleRate / 100
            phase = 0
        }
        var samples = [Int16](repeating: 0, count: count)
        var i = burstLeft > 0 && offset == count ? 0 : offset  // a burst started in the block before goes on
        while i < count && burstLeft > 0 {
            samples[i] = Int16(0.7 * 32767 * sin(2 * Double.pi * 2000 * Double(phase) / Double(format.sampleRate)))
            phase += 1
            burstLeft -= 1
            i += 1
        }
        samplesDone += UInt64(count)
        return (samples, blockStart)
    }
}
