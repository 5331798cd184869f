import Cameras
import Encoding
import Foundation
import Recording
import Rules

/// The OpenAPI document as served: the written document, with the limits of the settings a request may change taken
/// from the same rules the API checks with (a range or list is stated once, on its domain type).
enum OpenAPIDocument {
    /// The served bytes, made once.
    static let bytes: [UInt8] = {
        let written = PackageResources.openapi_json
        guard var root = (try? JSONSerialization.jsonObject(with: Data(written))) as? [String: Any],
              var paths = root["paths"] as? [String: Any],
              var settings = paths["/api/cameras/{id}/settings"] as? [String: Any],
              var post = settings["post"] as? [String: Any],
              var body = post["requestBody"] as? [String: Any],
              var content = body["content"] as? [String: Any],
              var json = content["application/json"] as? [String: Any],
              var schema = json["schema"] as? [String: Any],
              var properties = schema["properties"] as? [String: Any] else { return written }
        func limit(_ name: String, _ range: ClosedRange<Int>) {
            guard var property = properties[name] as? [String: Any] else { return }
            property["minimum"] = range.lowerBound
            property["maximum"] = range.upperBound
            properties[name] = property
        }
        func choices(_ name: String, _ names: [String]) {
            guard var property = properties[name] as? [String: Any] else { return }
            property["enum"] = names
            properties[name] = property
        }
        limit("width", CameraConfig.sizeRange)
        limit("height", CameraConfig.sizeRange)
        limit("fps", CameraConfig.fpsRule.range)
        limit("quality", CameraConfig.qualityRule.range)
        choices("codec", VideoCodec.allCases.map(\.rawValue))
        choices("mode", RecordingMode.allCases.map(\.rawValue))
        schema["properties"] = properties
        json["schema"] = schema
        content["application/json"] = json
        body["content"] = content
        post["requestBody"] = body
        settings["post"] = post
        paths["/api/cameras/{id}/settings"] = settings
        root["paths"] = paths
        guard let data = try? JSONSerialization.data(withJSONObject: root, options: [.sortedKeys]) else { return written }
        return Array(data)
    }()
}
