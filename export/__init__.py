"""gtzan.export"""
