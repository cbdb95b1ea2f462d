"""A ROS 2 node running ``real3d.Pipeline`` on a live RGB-D camera.

Subscribes (topics are parameters):

- colour ``sensor_msgs/Image`` (rgb8, bgr8, rgba8, bgra8, mono8) and depth
  ``sensor_msgs/Image`` (16UC1 / mono16 millimetres, 32FC1 metres) registered to the colour
  camera (same ``frame_id``, same size; ``depth_aligned`` declares a registered depth in
  another frame_id), paired by header stamp within ``max_pair_dt_s``;
- the colour camera's ``sensor_msgs/CameraInfo`` (K, width, height);
- the camera pose: from tf (``world_frame`` -> the colour image's ``frame_id``, at the image
  stamp) or, with ``pose_topic`` set, a ``geometry_msgs/PoseStamped`` / ``nav_msgs/Odometry``
  topic giving the optical frame's pose in ``world_frame`` (nearest stamp within
  ``max_pose_dt_s``);
- a goal ``geometry_msgs/PoseStamped`` (``goal_topic``, RViz's "2D Goal Pose") in
  ``map_frame`` or ``world_frame``.

Publishes the message types, topics and conversions of a results bag
(``real3d.io.ros_write.ResultsBag``; remap topics with ``--ros-args -r``):

- per frame: ``/real3d/labels`` (mono8 ids of the model's label set, ``Pipeline.label_set``)
  and ``/real3d/labels/color`` (rgb8, that set's class colours) in the camera's frame, and
  on ``/tf`` ``map_frame`` -> ``world_frame`` (the pipeline's gravity-aligned map frame in
  the robot's tree: ``Pipeline.gravity_T_world``);
- every ``map_period_s``: ``/real3d/costmap`` (``nav_msgs/OccupancyGrid``),
  ``/real3d/scene_graph`` (``visualization_msgs/MarkerArray``), ``/real3d/semantic_map``
  (``sensor_msgs/PointCloud2``) and, once a goal was given, ``/real3d/path``
  (``nav_msgs/Path``), all in ``map_frame``.

``map_frame`` defaults to ``real3d_map``, not ``map``: a SLAM or AMCL node usually owns
``map`` -> ``odom`` already, and a frame has one parent in tf.

rclpy, tf2_ros and the message packages come with ROS 2 (not with pip): they are imported
when a node is built, and ``import real3d.ros`` works without them.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from real3d.core import ConfigError, Frame
from real3d.io.ros_msgs import decode_image_color, decode_image_depth
from real3d.io.ros_write import (
    CLOUD_TOPIC,
    COSTMAP_TOPIC,
    LABELS_COLOR_TOPIC,
    LABELS_TOPIC,
    MARKERS_TOPIC,
    PATH_TOPIC,
    TF_TOPIC,
    Msg,
    label_image_msgs,
    marker_array_msg,
    occupancy_grid_msg,
    path_msg,
    point_cloud_msg,
    tf_msg,
)
from real3d.ros.convert import (
    ROS2_HINT,
    intrinsics_from_camera_info,
    matrix_from_pose,
    matrix_from_transform,
    message_class,
    stamp_ns,
    to_rclpy,
)

#: the node's name
NODE_NAME = "real3d"
#: message types of the published topics
OUTPUT_TYPES = {
    LABELS_TOPIC: "sensor_msgs/msg/Image",
    LABELS_COLOR_TOPIC: "sensor_msgs/msg/Image",
    TF_TOPIC: "tf2_msgs/msg/TFMessage",
    COSTMAP_TOPIC: "nav_msgs/msg/OccupancyGrid",
    MARKERS_TOPIC: "visualization_msgs/msg/MarkerArray",
    CLOUD_TOPIC: "sensor_msgs/msg/PointCloud2",
    PATH_TOPIC: "nav_msgs/msg/Path",
}
POSE_TYPES = {"PoseStamped": "geometry_msgs/msg/PoseStamped", "Odometry": "nav_msgs/msg/Odometry"}


@dataclass(frozen=True)
class NodeConfig:
    """The node's ROS parameters (each field is declared as a parameter of that name).

    Attributes:
        color_topic, depth_topic, camera_info_topic: the colour image, the depth image
            registered to it, the colour camera's CameraInfo.
        depth_aligned: the depth is registered to colour although its frame_id differs.
            Without it such depth is refused (logged, frame skipped), never stretched.
        pose_topic: "" = poses from tf; else a PoseStamped / Odometry topic (``pose_type``).
        pose_type: ``"PoseStamped"`` or ``"Odometry"``.
        goal_topic: goals (PoseStamped) to plan the published path to; "" = none.
        world_frame: the fixed frame camera poses are in (``odom``).
        map_frame: the frame the map products are published in (its tf parent is
            ``world_frame``); must differ from it.
        max_pair_dt_s: colour and depth stamps further apart are not paired, seconds.
        max_pose_dt_s: a pose-topic message further from the image stamp is not used, seconds.
        model, rgb_model, backend, gravity: ``PipelineConfig`` fields of the same name
            (``rgb_model`` "" = none).
        map_period_s: seconds between publications of the costmap, markers, cloud, path.
        queue_depth: subscription and publisher queue depth (keep it small: a late frame
            is dropped rather than processed late).
    """

    color_topic: str = "/camera/color/image_raw"
    depth_topic: str = "/camera/aligned_depth_to_color/image_raw"
    camera_info_topic: str = "/camera/color/camera_info"
    depth_aligned: bool = False
    pose_topic: str = ""
    pose_type: str = "PoseStamped"
    goal_topic: str = "/goal_pose"
    world_frame: str = "odom"
    map_frame: str = "real3d_map"
    max_pair_dt_s: float = 0.02
    max_pose_dt_s: float = 0.1
    model: str = "rgbd-default"
    rgb_model: str = "rgb-default"
    backend: str = "auto"
    gravity: str = "off"
    map_period_s: float = 1.0
    queue_depth: int = 2

    def __post_init__(self):
        if self.pose_type not in POSE_TYPES:
            raise ConfigError(f"real3d node: pose_type expected one of {sorted(POSE_TYPES)}, got {self.pose_type!r}")
        if self.map_frame == self.world_frame:
            raise ConfigError(
                f"real3d node: map_frame and world_frame are both {self.map_frame!r}; the map frame is "
                "published as a child of world_frame and needs its own name"
            )
        for name in ("max_pair_dt_s", "max_pose_dt_s", "map_period_s"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ConfigError(f"real3d node: {name} expected a positive number of seconds, got {v!r}")


def import_rclpy():
    """``(rclpy, rclpy.node.Node)``; ConfigError naming ROS 2 when they are not importable."""
    try:
        import rclpy
        from rclpy.node import Node
    except ImportError as e:
        raise ConfigError(f"real3d.ros: the ROS 2 node cannot start ({e}): {ROS2_HINT}") from None
    return rclpy, Node


class Pairer:
    """Pairs colour and depth messages by stamp: each colour message takes the depth message
    nearest in time within ``max_dt_ns``; a colour message no depth can match any more
    (a later depth already came) is dropped, as are depth messages older than a match.
    ``push`` returns the pair completed by a message, else None."""

    def __init__(self, max_dt_ns: int, keep: int = 8) -> None:
        self.max_dt_ns = int(max_dt_ns)
        self.colors: deque = deque(maxlen=keep)
        self.depths: deque = deque(maxlen=keep)
        self.dropped = 0

    def push(self, kind: str, t_ns: int, msg):
        (self.colors if kind == "color" else self.depths).append((t_ns, msg))
        while self.colors:
            tc, cmsg = self.colors[0]
            best = min(self.depths, key=lambda d: abs(d[0] - tc), default=None)
            if best is not None and abs(best[0] - tc) <= self.max_dt_ns:
                self.colors.popleft()
                while self.depths and self.depths[0] is not best:
                    self.depths.popleft()
                self.depths.popleft()
                return cmsg, best[1]
            if self.depths and self.depths[-1][0] > tc + self.max_dt_ns:
                self.colors.popleft()  # no depth can match it any more
                self.dropped += 1
                continue
            return None
        return None


class Real3DNode:
    """The ROS 2 node (see the module docstring): an rclpy ``Node`` (``self.node``) with
    the subscriptions, publishers and map timer, and the ``Pipeline`` it feeds.

    Args:
        config: the defaults of the parameters (ROS parameter overrides win).
        pipeline: an already built ``real3d.Pipeline`` (default: ``Pipeline.default``
            with ``model`` / ``rgb_model`` / ``backend`` / ``gravity``).
        node_name: the ROS node name.

    Raises:
        ConfigError: rclpy (ROS 2) not importable, or invalid parameters.
    """

    def __init__(self, config: NodeConfig | None = None, *, pipeline=None, node_name: str = NODE_NAME) -> None:
        rclpy, Node = import_rclpy()
        self._rclpy = rclpy
        self.node = Node(node_name)
        self.config = cfg = self._parameters(config or NodeConfig())
        if pipeline is None:
            from real3d.pipeline import Pipeline

            pipeline = Pipeline.default(
                model=cfg.model, rgb_model=cfg.rgb_model or None, backend=cfg.backend, gravity=cfg.gravity
            )
        self.pipeline = pipeline
        self.log = self.node.get_logger()
        self.frames_in = 0
        self.camera_frame: str | None = None
        self.intrinsics = None
        self.goal_xy: np.ndarray | None = None
        self.last_result = None
        self._last_ns = 0
        self._warned: set[str] = set()
        self._pairer = Pairer(round(cfg.max_pair_dt_s * 1e9))
        self._poses: deque = deque(maxlen=64)
        q = int(cfg.queue_depth)
        self._pubs = {t: self.node.create_publisher(message_class(m), t, q) for t, m in OUTPUT_TYPES.items()}
        image = message_class("sensor_msgs/msg/Image")
        self._subs = [
            self.node.create_subscription(image, cfg.color_topic, self.on_color, q),
            self.node.create_subscription(image, cfg.depth_topic, self.on_depth, q),
            self.node.create_subscription(
                message_class("sensor_msgs/msg/CameraInfo"), cfg.camera_info_topic, self.on_camera_info, q
            ),
        ]
        if cfg.goal_topic:
            goal = message_class("geometry_msgs/msg/PoseStamped")
            self._subs.append(self.node.create_subscription(goal, cfg.goal_topic, self.on_goal, q))
        self.tf_buffer = None
        if cfg.pose_topic:
            pose = message_class(POSE_TYPES[cfg.pose_type])
            self._subs.append(self.node.create_subscription(pose, cfg.pose_topic, self.on_pose, 50))
        else:
            try:
                import tf2_ros
            except ImportError as e:
                raise ConfigError(f"real3d.ros: tf2_ros not importable ({e}): {ROS2_HINT}") from None
            self._tf2 = tf2_ros
            self.tf_buffer = tf2_ros.Buffer()
            self._tf_listener = tf2_ros.TransformListener(self.tf_buffer, self.node)
        self.timer = self.node.create_timer(cfg.map_period_s, self.publish_map)

    @property
    def _label_set(self):
        """The label set of the pipeline's ids (``Pipeline.label_set``; NYUv2-13 for a
        pipeline that does not say): the colours of the labels, markers and cloud."""
        return getattr(self.pipeline, "label_set", None)

    # -- parameters ------------------------------------------------------------------
    def _parameters(self, defaults: NodeConfig) -> NodeConfig:
        values = {}
        for f in dataclasses.fields(NodeConfig):
            self.node.declare_parameter(f.name, getattr(defaults, f.name))
            values[f.name] = self.node.get_parameter(f.name).value
        return NodeConfig(**values)

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.log.warning(text)

    # -- inputs ----------------------------------------------------------------------
    def on_camera_info(self, msg) -> None:
        """Keep the colour camera's intrinsics (an uncalibrated, all-zero K is passed over)."""
        K = intrinsics_from_camera_info(msg)
        if K is None:
            self._warn_once(
                "K0", f"CameraInfo on {self.config.camera_info_topic} has K = 0; waiting for a calibrated one"
            )
            return
        self.intrinsics = K

    def on_color(self, msg) -> None:
        pair = self._pairer.push("color", stamp_ns(msg.header), msg)
        if pair is not None:
            self.process(*pair)

    def on_depth(self, msg) -> None:
        pair = self._pairer.push("depth", stamp_ns(msg.header), msg)
        if pair is not None:
            self.process(*pair)

    def on_pose(self, msg) -> None:
        """A camera pose in ``world_frame`` (PoseStamped, or Odometry's ``pose.pose``)."""
        frame = str(msg.header.frame_id).lstrip("/")
        if frame and frame != self.config.world_frame:
            self._warn_once(
                "pose_frame",
                f"poses on {self.config.pose_topic} are in {frame!r}, expected {self.config.world_frame!r}",
            )
            return
        pose = msg.pose.pose if hasattr(msg, "twist") else msg.pose
        self._poses.append((stamp_ns(msg.header), matrix_from_pose(pose)))

    def on_goal(self, msg) -> None:
        """A goal in ``map_frame`` or ``world_frame``: the path to it is planned and published
        with the map products."""
        frame = str(msg.header.frame_id).lstrip("/")
        p = np.array([msg.pose.position.x, msg.pose.position.y, msg.pose.position.z, 1.0])
        if frame == self.config.world_frame:
            g = self.pipeline.gravity_T_world
            if g is None:
                self._warn_once("goal_g", "goal in world_frame before the map frame is known; ignored")
                return
            p = g @ p
        elif frame != self.config.map_frame:
            self.log.warning(f"goal in frame {frame!r} ignored: expected {self.config.map_frame!r} or world_frame")
            return
        self.goal_xy = p[:2].copy()

    def _pose_at(self, frame: str, t_ns: int) -> np.ndarray | None:
        cfg = self.config
        if self.tf_buffer is not None:
            from rclpy.time import Time

            try:
                ts = self.tf_buffer.lookup_transform(
                    cfg.world_frame, frame, Time(seconds=t_ns // 10**9, nanoseconds=t_ns % 10**9)
                )
            except self._tf2.TransformException as e:
                self._warn_once("tf", f"no tf {cfg.world_frame} -> {frame} at the image stamp ({e})")
                return None
            return matrix_from_transform(ts.transform)
        best = min(self._poses, key=lambda p: abs(p[0] - t_ns), default=None)
        if best is None or abs(best[0] - t_ns) > cfg.max_pose_dt_s * 1e9:
            return None
        return best[1]

    # -- one frame -------------------------------------------------------------------
    def process(self, color_msg, depth_msg):
        """Run one colour / depth pair through the pipeline and publish its labels and the
        map frame's tf. Returns the pipeline's ``StepResult``, or None when the pair was not
        usable (no CameraInfo yet, depth not registered to colour, an undecodable image:
        logged)."""
        cfg = self.config
        color_frame = str(color_msg.header.frame_id).lstrip("/")
        depth_frame = str(depth_msg.header.frame_id).lstrip("/")
        if not cfg.depth_aligned and depth_frame and color_frame and depth_frame != color_frame:
            self._warn_once(
                "unregistered",
                f"depth on {cfg.depth_topic} is in frame {depth_frame!r}, colour on {cfg.color_topic} in "
                f"{color_frame!r}: depth not registered to colour; frames skipped. Subscribe to a depth topic "
                "aligned to colour (aligned_depth_to_color) or set depth_aligned if it is registered",
            )
            return None
        if self.intrinsics is None:
            self._warn_once("noK", f"no CameraInfo on {cfg.camera_info_topic} yet; frames skipped")
            return None
        from real3d.core.errors import Real3DError

        try:
            rgb = decode_image_color(color_msg)
            depth_m, _ = decode_image_depth(depth_msg)
        except Real3DError as e:
            self.log.error(f"frame skipped: {e}")
            return None
        depth_m = np.where(np.isfinite(depth_m) & (depth_m > 0), depth_m, np.float32(0)).astype(np.float32)
        if depth_m.shape != rgb.shape[:2]:
            self._warn_once(
                "size",
                f"depth {depth_m.shape[1]} x {depth_m.shape[0]} and colour {rgb.shape[1]} x {rgb.shape[0]} differ: "
                "depth not registered to colour; frames skipped",
            )
            return None
        K = self.intrinsics
        if K.size_hw != rgb.shape[:2]:
            K = K.resized(rgb.shape[1], rgb.shape[0])
        t_ns = stamp_ns(color_msg.header)
        frame = Frame(
            rgb=rgb,
            depth_m=depth_m,
            intrinsics=K,
            world_T_cam=self._pose_at(color_frame, t_ns),
            timestamp_s=t_ns * 1e-9,
            index=self.frames_in,
        )
        self.frames_in += 1
        self.camera_frame = color_frame
        self._last_ns = max(self._last_ns, t_ns)
        res = self.pipeline.step(frame)
        self.last_result = res
        if res.labels is not None:
            ids, colour = label_image_msgs(t_ns, color_frame, res.labels, "real3d node", self._label_set)
            self.publish(LABELS_TOPIC, ids)
            self.publish(LABELS_COLOR_TOPIC, colour)
        g = self.pipeline.gravity_T_world
        if g is not None:
            # the map frame as a child of world_frame: p_world = inv(gravity_T_world) p_map
            self.publish(TF_TOPIC, tf_msg(t_ns, cfg.world_frame, cfg.map_frame, np.linalg.inv(g)))
        return res

    # -- map products ----------------------------------------------------------------
    def publish_map(self) -> list[str]:
        """Publish the costmap, scene-graph markers, semantic cloud and (with a goal) the
        path of the current map, stamped with the latest frame's time. Returns the topics
        published (none while the map is empty)."""
        from real3d.core.errors import NoPathError

        pipe, f, t = self.pipeline, self.config.map_frame, self._last_ns
        if not len(pipe.map):
            return []
        t0 = time.perf_counter()
        done = []
        cm = pipe.costmap
        if cm is not None:
            g = cm.grid
            occ = np.where(g.unknown, -1, np.where(g.occupied, 100, 0)).astype(np.int8)
            self.publish(COSTMAP_TOPIC, occupancy_grid_msg(t, f, occ, g.resolution_m, g.origin_xy, "real3d node"))
            done.append(COSTMAP_TOPIC)
        self.publish(MARKERS_TOPIC, marker_array_msg(t, f, pipe.scene_graph.to_dict(), "real3d node", self._label_set))
        done.append(MARKERS_TOPIC)
        pts = pipe.map.semantic_points()
        if len(pts.points):
            self.publish(CLOUD_TOPIC, point_cloud_msg(t, f, pts.points, pts.labels, "real3d node", self._label_set))
            done.append(CLOUD_TOPIC)
        if self.goal_xy is not None:
            try:
                path = pipe.plan(self.goal_xy)
            except NoPathError as e:
                self._warn_once(f"nopath{tuple(self.goal_xy)}", f"no path to the goal {self.goal_xy.tolist()}: {e}")
            else:
                self.publish(PATH_TOPIC, path_msg(t, f, path.waypoints))
                done.append(PATH_TOPIC)
        self.log.debug(f"map published in {(time.perf_counter() - t0) * 1e3:.0f} ms")
        return done

    def publish(self, topic: str, msg: Msg) -> None:
        """Publish the plain message ``msg`` on one of the node's topics (as rclpy's type)."""
        self._pubs[topic].publish(to_rclpy(msg))

    def destroy(self) -> None:
        """Stop the pipeline's background work and destroy the ROS node."""
        self.pipeline.close()
        self.node.destroy_node()


def main(args: list[str] | None = None) -> None:
    """Entry point for ``ros2 run``-style launching (``python -m real3d.ros``): init rclpy,
    spin one :class:`Real3DNode` until Ctrl-C or shutdown, then clean up. ``args`` are
    ROS arguments (``--ros-args -p model:=rgbd-default -r /real3d/costmap:=/map``)."""
    rclpy, _ = import_rclpy()
    rclpy.init(args=args)
    node = None
    try:
        node = Real3DNode()
        rclpy.spin(node.node)
    except KeyboardInterrupt:
        pass
    finally:
        if node is not None:
            node.destroy()
        if rclpy.ok():
            rclpy.shutdown()
