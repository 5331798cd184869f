import Cameras
import Hummingbird

/// The page at `/`: the live picture of every camera and a small status line under each.
enum IndexPage {
    static func response(cameras: [CameraConfig]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html(cameras))))
    }

    static func html(_ cameras: [CameraConfig]) -> String {
        let tiles = cameras.map { c in
            """
                <figure class="cam" data-camera="\(c.id)">
                  <img src="/stream?camera=\(c.id)" alt="live view of camera \(c.id)">
                  <figcaption><b>\(c.id)</b> <span class="stat" id="stat-\(c.id)">connecting…</span>
                    <a href="/snapshot?camera=\(c.id)">snapshot</a></figcaption>
                </figure>
            """
        }.joined(separator: "\n")
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Blackbox</title>
            <style>
              body { margin: 0; font: 15px system-ui, sans-serif; background: #111; color: #eee; }
              header { padding: .6em 1em; background: #000; }
              main { display: grid; gap: 1em; padding: 1em; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); }
              .cam { margin: 0; }
              .cam img { width: 100%; height: auto; background: #222; display: block; }
              figcaption { padding: .3em 0; } a { color: #8cf; } .stat { color: #aaa; }
            </style>
            </head>
            <body>
            <header><b>Blackbox</b> · <a href="/api/status">status (JSON)</a></header>
            <main>
            \(tiles)
            </main>
            <script>
            async function refresh() {
              try {
                const r = await fetch('/api/status', {cache: 'no-store'});
                const s = await r.json();
                for (const c of s.cameras) {
                  const el = document.getElementById('stat-' + c.id);
                  if (el) el.textContent = c.width + 'x' + c.height + ' · ' + c.measuredFps.toFixed(1) + ' fps · '
                    + c.framesDropped + ' dropped · ' + c.liveClients + ' viewers';
                }
              } catch (e) { /* daemon restarting: keep the last line */ }
            }
            refresh(); setInterval(refresh, 2000);
            </script>
            </body>
            </html>
            """
    }
}
