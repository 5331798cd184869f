import ArgumentParser
import AudioCapture
import Capture
import LibcameraCapture

/// `blackbox devices`: what capture devices this machine has and what they offer.
struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List capture devices (cameras with driver, card, bus, stable paths, formats, sizes and frame rates; microphones).")

    func run() throws {
        listLibcamera()
        listSound()
        let devices = V4L2Inventory.devices()
        if devices.isEmpty {
            print("No V4L2 devices (/dev/video*). Without a camera, 'blackbox run' uses its test pattern.")
            return
        }
        for d in devices {
            guard let info = d.info else {
                print("\(d.path): cannot open: \(d.error ?? "unknown error")\n")
                continue
            }
            print("\(d.path): \(info.card) (driver \(info.driver), bus \(info.bus))")
            for name in d.stableNames { print("  also \(name)") }
            if !info.canCapture {
                print("  not a capture device with streaming I/O (metadata or output node)\n")
                continue
            }
            for f in d.formats {
                let kind = f.fourcc.isBayer(description: f.description) ? "  raw Bayer: use libcamera:N" : (f.compressed ? "  compressed" : "")
                print("  \(f.fourcc.description.padding(toLength: 5, withPad: " ", startingAt: 0)) \(f.description)\(kind)")
                for s in f.sizes {
                    let rates = s.fps.isEmpty ? "" : " @ " + s.fps.map { "\($0)" }.joined(separator: ", ") + " fps"
                    print("        \(s.width)x\(s.height)\(rates)")
                }
            }
            if !d.formats.isEmpty, d.formats.allSatisfy({ $0.fourcc.isBayer(description: $0.description) }) {
                print("  only Bayer formats: a Raspberry Pi CSI camera behind its ISP; use it as --camera ID=libcamera:N (see above)")
            }
            print("")
        }
    }

    /// Sound capture devices (ALSA), for `audio = "alsa:DEVICE"`.
    private func listSound() {
        switch AudioCapture.devices() {
        case .failure(let error):
            print("sound: \(error)\n")
        case .success(let devices) where devices.isEmpty:
            print("sound: no capture devices\n")
        case .success(let devices):
            for d in devices { print("sound: alsa:\(d.device) \(d.name)") }
            print("")
        }
    }

    /// libcamera's cameras first: on a Pi 5 the camera modules are reached through it.
    private func listLibcamera() {
        switch LibcameraCameras.list() {
        case .failure(let error):
            print("libcamera: \(error)\n")
        case .success(let cameras) where cameras.isEmpty:
            print("libcamera: no cameras\n")
        case .success(let cameras):
            for (index, camera) in cameras.enumerated() {
                print("libcamera:\(index) \(camera.model) (id \(camera.id))")
                if !camera.sizes.isEmpty { print("  sizes \(camera.sizes.joined(separator: ", "))") }
            }
            print("")
        }
    }
}
