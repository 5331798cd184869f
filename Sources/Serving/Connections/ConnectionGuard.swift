#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1

/// Watches one HTTP/1 connection between NIO's HTTP codec and Hummingbird: admits it through the
/// registry, closes it when a time-out of `ConnectionLimits` passes, answers `Expect: 100-continue`,
/// and frames responses to HTTP/1.0 requests as HTTP/1.0 (no chunked encoding; the end of the body
/// is the end of the connection, as mjpg-streamer-era clients expect).
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: ConnectionRegistry
    private var admitted = false
    private var heads = 0
    private var requestEnds = 0
    private var responseEnds = 0
    private var http10Requests: [Bool] = []
    private var closeAfterResponse = false
    private var timer: Scheduled<Void>?
    private var stallTimer: Scheduled<Void>?

    init(registry: ConnectionRegistry) {
        self.registry = registry
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        release(context)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        release(context)
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard !admitted else { return }
        admitted = true
        // Refused cheaply: closed before a byte is read or a task is started for it.
        guard registry.admit(context.channel, client: context.channel.remoteAddress?.ipAddress ?? "unknown") else {
            context.close(promise: nil)
            return
        }
        arm(context, registry.limits.headTimeout)
    }

    private func release(_ context: ChannelHandlerContext) {
        timer?.cancel()
        stallTimer?.cancel()
        timer = nil
        stallTimer = nil
        registry.remove(context.channel)
    }

    /// Closes the connection after `delay` unless re-armed or cancelled first.
    private func arm(_ context: ChannelHandlerContext, _ delay: TimeAmount) {
        timer?.cancel()
        let channel = context.channel
        let registry = self.registry
        timer = context.eventLoop.scheduleTask(in: delay) {
            registry.timedOut.add(1, ordering: .relaxed)
            channel.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            heads += 1
            http10Requests.append(head.version.major == 1 && head.version.minor == 0)
            registry.setWaiting(context.channel, false)
            arm(context, registry.limits.bodyTimeout)
            if head.version.minor >= 1, head.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                // The client waits for this before sending its body; every route that reads a body limits its size.
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
            }
        case .body:
            arm(context, registry.limits.bodyTimeout)
        case .end:
            requestEnds += 1
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200:
            if !http10Requests.isEmpty, http10Requests.removeFirst() {
                head.version = .http1_0
                head.headers.remove(name: "transfer-encoding")
                head.headers.replaceOrAdd(name: "connection", value: "close")
                closeAfterResponse = true
            }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end:
            responseEnds += 1
            if closeAfterResponse {
                let channel = context.channel
                let done = promise ?? context.eventLoop.makePromise()
                done.futureResult.whenComplete { _ in channel.close(promise: nil) }
                context.write(data, promise: done)
                return
            }
            context.write(data, promise: promise)
            if responseEnds >= heads && requestEnds >= heads {
                registry.setWaiting(context.channel, true)
                arm(context, registry.limits.idleTimeout)
            }
        default:
            context.write(data, promise: promise)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        stallTimer?.cancel()
        stallTimer = nil
        if !context.channel.isWritable {
            let channel = context.channel
            let registry = self.registry
            stallTimer = context.eventLoop.scheduleTask(in: registry.limits.writeStallTimeout) {
                registry.timedOut.add(1, ordering: .relaxed)
                // Reset rather than close: a client that reads nothing would never take the queued
                // bytes and the FIN, and the kernel would keep them for minutes.
                if let socket = channel as? any SocketOptionProvider {
                    socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
                } else {
                    channel.close(promise: nil)
                }
            }
        }
        context.fireChannelWritabilityChanged()
    }
}

/// Puts a `ConnectionGuard` between NIO's HTTP/1 decoder and Hummingbird's HTTP-types codec (where it
/// sees HTTP versions and `Expect`), then removes itself: Hummingbird only lets extra handlers in after that codec.
final class ConnectionGuardInstaller: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Never

    private let registry: ConnectionRegistry

    init(registry: ConnectionRegistry) {
        self.registry = registry
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let pipeline = context.pipeline.syncOperations
        do {
            let decoder = try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try pipeline.addHandler(ConnectionGuard(registry: registry), position: .after(decoder))
        } catch {
            // Without its guard a connection could hold a descriptor forever: refuse it.
            context.close(promise: nil)
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
