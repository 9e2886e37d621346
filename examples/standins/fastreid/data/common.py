"""Stand-in for ``fastreid.data.common.CommDataset``."""
from PIL import Image
from torch.utils.data import Dataset


class CommDataset(Dataset):
    """Image items ``(img_path, pid, camid)``; with ``relabel`` string pids/camids map to 0..N-1."""

    def __init__(self, img_items, transform=None, relabel=True):
        self.img_items, self.transform, self.relabel = img_items, transform, relabel
        self.pids = sorted({pid for _, pid, _ in img_items})
        self.cams = sorted({camid for _, _, camid in img_items})
        self.pid_dict = {pid: i for i, pid in enumerate(self.pids)}
        self.cam_dict = {camid: i for i, camid in enumerate(self.cams)}

    def __len__(self):
        return len(self.img_items)

    def __getitem__(self, index):
        img_path, pid, camid = self.img_items[index]
        img = Image.open(img_path).convert("RGB")
        if self.transform is not None:
            img = self.transform(img)
        if self.relabel:
            pid, camid = self.pid_dict[pid], self.cam_dict[camid]
        return {"images": img, "targets": pid, "camids": camid, "img_paths": img_path}

    @property
    def num_classes(self):
        return len(self.pids)
