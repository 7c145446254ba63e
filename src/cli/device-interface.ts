import {Flags} from '@oclif/core';

import {DEVICE_INTERFACE_CHOICES, type DeviceInterfaceChoice} from '../lib/enumerate/access.js';

/** `--device-interface`, on every command that opens a device (one definition, one wording). */
export const deviceInterfaceFlag = Flags.custom<DeviceInterfaceChoice>({
  options: [...DEVICE_INTERFACE_CHOICES],
  default: 'auto',
  description:
    'how to open the device: group (/dev/vfio/<group> on a VFIO container), cdev (/dev/vfio/devices/vfioN bound to /dev/iommu, Linux 6.6+), ' +
    'or auto: the group when the host offers it, else the cdev. A node the kernel does not provide is named with its kernel option, exit 3',
})();
