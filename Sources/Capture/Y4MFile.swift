import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Planar 4:2:0 frames from a YUV4MPEG2 file (what `ffmpeg -pix_fmt yuv420p -f yuv4mpegpipe` writes),
/// read one at a time.
public final class Y4MFile {
    /// Picture size and rate from the header.
    public let width: Int
    public let height: Int
    public let fps: Int
    private let path: String
    private var handle: FileHandle
    private let dataStart: UInt64

    /// Opens `path` and reads its header; only 4:2:0 is accepted.
    public init(path: String) throws(CaptureError) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CaptureError.unsupported("cannot read '\(path)'") }
        self.path = path
        self.handle = handle
        var header = ""
        while let byte = try? handle.read(upToCount: 1)?.first, byte != 0x0A, header.count < 512 {
            header.append(Character(UnicodeScalar(byte)))
        }
        let fields = header.split(separator: " ")
        guard fields.first == "YUV4MPEG2" else {
            throw CaptureError.unsupported("'\(path)' is not a YUV4MPEG2 file; make one with: ffmpeg -i CLIP -pix_fmt yuv420p -f yuv4mpegpipe \(path)")
        }
        var (w, h, rate) = (0, 0, 30)
        for f in fields.dropFirst() {
            switch f.first {
            case "W": w = Int(f.dropFirst()) ?? 0
            case "H": h = Int(f.dropFirst()) ?? 0
            case "F":
                let parts = f.dropFirst().split(separator: ":").compactMap { Double($0) }
                if parts.count == 2, parts[1] > 0 { rate = max(1, min(120, Int((parts[0] / parts[1]).rounded()))) }
            case "C":
                guard f.hasPrefix("C420") else { throw CaptureError.unsupported("'\(path)' is \(f.dropFirst()); only 4:2:0 is read (ffmpeg -pix_fmt yuv420p)") }
            default: break
            }
        }
        guard (16...4096).contains(w), (16...4096).contains(h), w % 2 == 0, h % 2 == 0 else {
            throw CaptureError.unsupported("'\(path)': the header gives no usable size (even, 16 to 4096)")
        }
        (width, height, fps) = (w, h, rate)
        dataStart = (try? handle.offset()) ?? 0
    }

    deinit {
        try? handle.close()
    }

    /// Bytes of one frame (Y, then U, then V).
    public var frameBytes: Int { width * height * 3 / 2 }

    /// The next frame's bytes, or nil at the end of the file.
    public func next() -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: frameBytes)
        return bytes.withUnsafeMutableBytes { read(into: $0) } ? bytes : nil
    }

    /// Reads the next frame (Y, U, V) straight into `buffer` (at least `frameBytes` long); false at the end of the file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        // "FRAME", then frame parameters (if any) up to the line's end; read with plain read(2): per frame, Foundation's
        // FileHandle.read made a Data for six bytes.
        var marker: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0)
        guard buffer.count >= frameBytes,
              withUnsafeMutableBytes(of: &marker, { readFully(into: $0) && $0.starts(with: "FRAME".utf8) }) else { return false }
        var last = marker.5
        while last != 0x0A {
            guard withUnsafeMutableBytes(of: &last, { readFully(into: $0) }) else { return false }
        }
        return readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<frameBytes]))
    }

    /// Fills `buffer` from the file; false at the end of the file or on an error.
    private func readFully(into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        var done = 0
        while done < buffer.count {
            let n = Glibc.read(handle.fileDescriptor, buffer.baseAddress! + done, buffer.count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }

    /// Goes back to the first frame.
    public func rewind() {
        try? handle.seek(toOffset: dataStart)
    }
}
