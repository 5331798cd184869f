import CMosquitto
import Frames
import Platform
import ServiceSettings
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A connection to an MQTT broker through libmosquitto. The library's own network thread connects,
/// reconnects with exponential backoff (1 s doubling to 30 s) and calls back on that thread; publishing is
/// thread-safe and never waits for the network (messages queue in the library while disconnected).
public final class MQTTClient: @unchecked Sendable {
    private let handle: OpaquePointer
    private let settings: MQTTSettings
    private let onConnect: @Sendable () -> Void
    private let onMessage: @Sendable (String, [UInt8]) -> Void
    private let state: Mutex<MQTTStatus>

    private static let library: Void = { mosquitto_lib_init() }()

    /// A client with the will `will` (topic, payload, retained: the broker publishes it when the connection
    /// is lost). `onConnect` runs at every (re)connection, `onMessage` for each message of a subscription.
    public init(settings: MQTTSettings, clientID: String, will: (topic: String, payload: String),
                onConnect: @escaping @Sendable () -> Void, onMessage: @escaping @Sendable (String, [UInt8]) -> Void) throws(MQTTError) {
        _ = Self.library
        self.settings = settings
        self.onConnect = onConnect
        self.onMessage = onMessage
        state = Mutex(MQTTStatus(url: settings.url, connected: false, connects: 0, published: 0, publishFailures: 0, commands: 0,
                                 lastError: "not connected yet"))
        guard let h = mosquitto_new(clientID, true, nil) else { throw MQTTError("mosquitto_new failed (out of memory?)") }
        handle = h
        mosquitto_user_data_set(h, Unmanaged.passUnretained(self).toOpaque())
        var rc = mosquitto_reconnect_delay_set(h, 1, 30, true)
        if let user = settings.user, let password = settings.password, rc == 0 { rc = mosquitto_username_pw_set(h, user, password) }
        if settings.endpoint.tls, rc == 0 {
            rc = mosquitto_tls_set(h, settings.caFile, settings.caFile == nil ? "/etc/ssl/certs" : nil, nil, nil, nil)
        }
        if rc == 0 {
            rc = Array(will.payload.utf8).withUnsafeBytes { p in
                mosquitto_will_set(h, will.topic, Int32(p.count), p.baseAddress, 1, true)
            }
        }
        guard rc == 0 else {
            mosquitto_destroy(h)
            throw MQTTError("MQTT client set-up: \(String(cString: mosquitto_strerror(rc)))")
        }
        mosquitto_connect_callback_set(h) { _, user, rc in
            guard let user else { return }
            Unmanaged<MQTTClient>.fromOpaque(user).takeUnretainedValue().connected(rc)
        }
        mosquitto_disconnect_callback_set(h) { _, user, rc in
            guard let user else { return }
            Unmanaged<MQTTClient>.fromOpaque(user).takeUnretainedValue().disconnected(rc)
        }
        // The library says why a connection attempt failed (a refused TLS certificate, say) only in its log.
        mosquitto_log_callback_set(h) { _, user, level, text in
            guard let user, let text, level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING) != 0 else { return }
            Unmanaged<MQTTClient>.fromOpaque(user).takeUnretainedValue().problem(String(cString: text))
        }
        mosquitto_message_callback_set(h) { _, user, message in
            guard let user, let message, let topic = message.pointee.topic else { return }
            let bytes = message.pointee.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: Int(message.pointee.payloadlen))) } ?? []
            Unmanaged<MQTTClient>.fromOpaque(user).takeUnretainedValue().received(String(cString: topic), bytes)
        }
    }

    deinit { mosquitto_destroy(handle) }

    /// Starts the network thread and the first connection attempt (a broker that is not there yet is retried).
    public func start() throws(MQTTError) {
        let e = settings.endpoint
        let rc = mosquitto_connect_async(handle, e.host, Int32(e.port), 30)
        if rc != 0 {
            // Refused or unreachable now: the network thread keeps trying with backoff.
            state.withLock { $0.lastError = "cannot connect to \(settings.url): \(Self.describe(rc))" }
        }
        let started = mosquitto_loop_start(handle)
        guard started == 0 else { throw MQTTError("MQTT network thread: \(String(cString: mosquitto_strerror(started)))") }
    }

    /// Publishes `payload` on `topic` (queued while disconnected); false when the library refused it.
    @discardableResult
    public func publish(_ topic: String, _ payload: [UInt8], retain: Bool = false, qos: Int32 = 0) -> Bool {
        let rc = payload.withUnsafeBytes { p in mosquitto_publish(handle, nil, topic, Int32(p.count), p.baseAddress, qos, retain) }
        state.withLock { if rc == 0 { $0.published += 1 } else { $0.publishFailures += 1 } }
        return rc == 0
    }

    /// Publishes text.
    @discardableResult
    public func publish(_ topic: String, _ text: String, retain: Bool = false, qos: Int32 = 0) -> Bool {
        publish(topic, Array(text.utf8), retain: retain, qos: qos)
    }

    /// Subscribes to `pattern` (call from `onConnect`: a clean session forgets subscriptions).
    public func subscribe(_ pattern: String) {
        _ = mosquitto_subscribe(handle, nil, pattern, 1)
    }

    /// Counters and connection state.
    public func status() -> MQTTStatus {
        state.withLock { $0 }
    }

    /// Says goodbye (`lastWords` published first, then a clean disconnect) and stops the network thread.
    public func stop(lastWords: (topic: String, payload: String)? = nil) {
        if let lastWords, state.withLock({ $0.connected }) { publish(lastWords.topic, lastWords.payload, retain: true) }
        _ = mosquitto_disconnect(handle)
        // The network thread ends after the disconnect is sent; when it is waiting out a backoff it is cancelled.
        let deadline = MonotonicClock.nanos() + 500_000_000
        while state.withLock({ $0.connected }) && MonotonicClock.nanos() < deadline { sleepNanos(5_000_000) }
        _ = mosquitto_loop_stop(handle, true)
    }

    private func connected(_ rc: Int32) {
        guard rc == 0 else {
            state.withLock { $0.lastError = "the broker refused the connection: \(String(cString: mosquitto_connack_string(rc)))" }
            return
        }
        state.withLock { s in
            s.connected = true
            s.connects += 1
            s.lastError = nil
        }
        onConnect()
    }

    private func disconnected(_ rc: Int32) {
        state.withLock { s in
            s.connected = false
            s.lastError = rc == 0 ? "disconnected" : "connection lost: \(Self.describe(rc))"
        }
    }

    private func problem(_ text: String) {
        state.withLock { s in if !s.connected { s.lastError = text } }
    }

    private func received(_ topic: String, _ payload: [UInt8]) {
        state.withLock { $0.commands += 1 }
        onMessage(topic, payload)
    }

    private static func describe(_ rc: Int32) -> String {
        rc == MOSQ_ERR_ERRNO.rawValue ? String(cString: strerror(errno)) : String(cString: mosquitto_strerror(rc))
    }
}
