import ArgumentParser

/// `blackbox bench`: measures the pipeline against a bare libjpeg-turbo encode.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure the encode pipeline on a real photograph.")
}
