"""Semantic segmentation from run-length encoded masks (Carvana, Severstal, TGS Salt, HuBMAP): a mask per image and
class, learnt by a U-Net over a timm encoder and scored by Dice."""
