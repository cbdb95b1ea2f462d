"""``python -m real3d.ros [--ros-args ...]``: run the real3d ROS 2 node."""

import sys

from real3d.ros.node import main

main(sys.argv)
