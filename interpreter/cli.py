def main():
    print("abl")
